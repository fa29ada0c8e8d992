// Package origin is the upstream side of an edged node: the HTTP client that
// forwards a cache miss to the origin server or to an origin shield (another
// edged node in the shield role). It knows nothing of caching.
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
// Failures are reported through three sentinel errors that the serving layer
// maps to statuses: [ErrConnect] (502), [ErrTimeout] (504) and [ErrProtocol]
// (502). A cancelled context yields an error wrapping [context.Canceled].
//
// # Shields
//
// With Options.Shields set, each request goes to the shield that rendezvous
// (highest random weight) hashing assigns to its cache key, so every edge node
// sends a given key to the same shield and adding or removing a shield moves
// only that shield's share of keys. When a shield cannot be connected to
// (nothing was sent, so retrying is safe) the next shield in the key's order is
// tried, then the origin itself if Options.ShieldFallback is set. A request
// with a body is never retried.
//
// # Design notes
//
// Every destination is an internal upstream server; [Client.Do] first selects
// the ordered candidates for a request, then tries them in turn. Origin pools,
// load balancing and health checks plug into that selection step.
package origin
