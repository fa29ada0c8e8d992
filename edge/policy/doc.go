// Package policy is the pure RFC 9111 logic of a shared HTTP cache: cache keys,
// whether a response may be stored, freshness and age, Vary matching, validators
// and conditional requests, the rules for serving stale responses, invalidation
// after unsafe methods, and Cache-Status (RFC 9211) values.
//
// Cache keys have one grammar, in key.go (Key): a primary key from the
// normalized target (Target.Key), and every derived key (route split, auth
// partition, Vary variant, stored encoding) the primary key + "\x00" + a
// tagged suffix, so that a purge of the primary key reaches them all.
//
// Everything here is a function of its arguments (headers, statuses and times);
// the package does no I/O, keeps no state and never blocks, so every entry point
// can be fuzzed. Callers own the clock: every time-dependent function takes now.
//
// Directive parsing: github.com/pquerna/cachecontrol was evaluated and does
// not fit (one malformed directive rejects the whole field, duplicates keep
// the last value, every parse allocates), so directives.go has a small
// allocation-free scanner that follows RFC 9111 §4.2.1 and §5.2 instead; its
// tests pin the library's behaviour for comparison. targeted.go parses
// targeted fields (CDN-Cache-Control as an RFC 8941 Dictionary,
// Surrogate-Control with Cache-Control syntax, RFC 9213); directives.go
// reads Surrogate-Control's ";device-token" targets for the cache named by
// Options.Surrogate (W3C Edge Architecture Specification 1.0). The
// stale-while-revalidate and stale-if-error extensions (RFC 5861), qualified
// no-cache/private field lists, the credentials (Cookie, Authorization) and
// Set-Cookie rules, the cap on a client's max-stale, and
// the selection of stored responses to freshen from a 304 (RFC 9111 §4.3.4)
// are each marked in the code.
package policy
