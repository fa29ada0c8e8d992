// Package origin is the upstream side of an edged node: the HTTP client that
// forwards a cache miss to origin servers or to an origin shield (another
// edged node in the shield role), load balanced across a pool of servers
// with health checks and retries. It knows nothing of caching.
//
// # Contract
//
// [Client.Do] sends one [Outbound] request upstream as a proxy would (RFC 9110
// §7.6): hop-by-hop fields are removed in both directions, X-Forwarded-For is
// appended to, X-Forwarded-Proto and X-Forwarded-Host say what this node saw,
// and Via gains this node's pseudonym. The request target is sent byte for byte
// as given (plus the upstream's path prefix); nothing is re-encoded, no
// User-Agent is invented, and no Accept-Encoding is added on the client's
// behalf. Responses are returned unbuffered, with any status, and are never
// followed (redirects are the client's business).
//
// Failures are reported through four sentinel errors that the serving layer
// maps to statuses: [ErrConnect] (502), [ErrTimeout] (504), [ErrProtocol]
// (502) and [ErrNoHealthy] (503, returned at once). A cancelled context
// yields an error wrapping [context.Canceled].
//
// # Direct (a forward proxy's upstream)
//
// With Options.Direct each request goes to the server its Outbound names
// (Proto and Host) through Options.Dial, once: no pool, shield or retry.
// The node hides its clients there: no X-Forwarded-* field is added, and
// Options.OmitVia leaves Via out in both directions.
//
// # Pools
//
// A [Pool] is a named set of origin servers shared by every Client (route)
// that names it in Options.Pool, so health state, in-flight counts and
// keep-alive connections are shared; Options.Origin is shorthand for a pool
// of one server without health checks, ejection or retries. Each request
// goes to the server the pool's algorithm picks (round robin, smooth weighted
// round robin, least connections, or weighted rendezvous hashing of the
// cache key or of the client's address), never to one that is down or
// ejected:
//
//   - Active checks ([HealthCheck], started by [Pool.Start]) GET a path on
//     every server periodically; Fall failures in a row take a server down,
//     Rise successes in a row bring it back.
//   - Passive checks ([Ejection]) eject a server after consecutive transport
//     failures or 5xx responses for a back-off that doubles on repeated
//     ejection; then it is tried again.
//   - When every server is down or ejected, Do fails at once with
//     [ErrNoHealthy].
//
// A failed attempt is retried on another server (PoolOptions.Retries,
// bounded in count and time: PoolOptions.RetryTimeout) when that cannot
// repeat an effect: the connection could not be made (nothing was sent);
// the connection broke before response headers and the method is GET or
// HEAD (RFC 9110 §9.2.1); or no response headers came within HeaderTimeout
// and the method is GET or HEAD without a body (nginx's proxy_next_upstream
// timeout, for safe methods only). A request with a body is only retried
// when Outbound.GetBody can replay it; other requests are never retried
// after bytes were sent. A shield's header timeout is not retried on
// another shield: it is most likely waiting on the origin.
//
// # Shields
//
// With Options.Shields set, each request goes to the shield that rendezvous
// (highest random weight) hashing assigns to its cache key, so every edge node
// sends a given key to the same shield and adding or removing a shield moves
// only that shield's share of keys. When a shield cannot be connected to
// (nothing was sent, so retrying is safe) the next shield in the key's order is
// tried, then the origin pool if Options.ShieldFallback is set. Shields that
// fail repeatedly are ejected (Options.ShieldEjection) and skipped; with
// every shield ejected the request goes to the pool (ShieldFallback) or
// fails with [ErrNoHealthy]. A request with a body is never retried unless
// it is replayable.
//
// A shield is told the pool the request is meant for (Options.ShieldPool)
// in [PoolHeader], since two pools may be sent the same URL; a pool's
// servers never see the field, nor does any upstream see one a client sent.
//
// # Connections
//
// Connections are kept alive and pooled per server. Plain-HTTP GET and
// HEAD requests without a body (a cache's misses) are exchanged on the
// caller's goroutine (keepalive.go); the rest (TLS, upgrades, bodies, a
// pool with a connection cap) go through net/http's transport. Each
// connection follows the framing of the responses it carries, so that bytes an
// upstream sends that no request asked for (a second response, junk after
// a body) are never read as the answer to a later request: the connection
// is discarded, and the response they arrive with fails with [ErrProtocol]
// when they start another response (the two may be out of turn), or is
// served as RFC 9112 §6.3 frames it when they do not (a body longer than
// its Content-Length). A response whose Transfer-Encoding does not end in
// chunked is read until the connection closes (RFC 9112 §6.3).
//
// Bytes that arrive after the next request was written cannot be told from
// its answer, so a connection is not shared where an upstream may answer
// out of turn: a request with a body or a method that is not safe (RFC
// 9110 §9.2.1; an origin that ignores a body answers a request smuggled in
// it) gets a new connection of its own, closed after it, and so does every
// request, for five minutes, to a server that sent bytes no request asked
// for.
// What remains open is in docs/security.md.
//
// # Design notes
//
// Every destination is an internal upstream server carrying its shared
// state (health, ejection, in-flight count) and its connection pool;
// [Client.Do] selects a server, tries it, feeds the outcome to passive
// health checking, and selects again on a retryable failure, excluding the
// servers already tried. Selection does not allocate.
package origin
