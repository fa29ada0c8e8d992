// Package ratelimit limits request rates per client and concurrent
// connections per listener.
//
// # Contract
//
// [Limiter] keeps one token bucket (golang.org/x/time/rate) per client
// address: Rate tokens per second, at most Burst stored. [Limiter.Allow] takes
// a token or says how long until one is available, which the caller sends as
// Retry-After, rounded up to whole seconds (RFC 9110 §10.2.3), with a 429
// (RFC 6585 §4). Time is passed in, never read, so tests use a fake clock.
//
// [Limiter.AllowKey] keys a bucket by a name instead of an address: a
// verified JWT subject, a verified API key or a header's value, each kind
// apart from the others and from addresses; names longer than 64 bytes are
// kept as their SHA-256, so a bucket's cost does not grow with the name.
//
// A limiter with Options.Shared also counts what it admitted per key;
// [Limiter.TakeUsage] hands the counts out and [Limiter.Consume] takes
// another node's from the same key's bucket (down to one burst of debt),
// which is how edge/ratelimit/fleet shares a budget across nodes.
//
// Memory is bounded: at most MaxClients buckets are tracked, least recently
// used evicted first. An evicted client comes back with a full bucket, so
// when more clients are active than MaxClients the limit becomes looser, never
// stricter; size MaxClients to the active client population (a bucket costs
// about 200 bytes).
//
// IPv6 clients are tracked per network (/64 by default), since one host
// commonly owns a whole /64 and could otherwise rotate addresses to escape
// its limit. IPv4-mapped addresses are unmapped first.
//
// [LimitListener] bounds concurrent connections on a listener: Accept waits
// while the limit is reached, leaving further connections in the kernel's
// backlog. A [ConnLimit] is one such bound shared by several listeners,
// which tells its owner each time an Accept has to wait.
//
// Everything here is safe for concurrent use.
package ratelimit
