package policy

import (
	"net/http"
	"time"
)

// Options tune the rules where RFC 9111 leaves a choice to the cache.
// The zero value is usable: every zero field takes the default named on it.
type Options struct {
	// HeuristicFraction is the share of (Date - Last-Modified) used as a
	// heuristic freshness lifetime (RFC 9111 §4.2.2). Zero means 0.1.
	HeuristicFraction float64
	// HeuristicMax caps a heuristic lifetime. Zero means 24h.
	HeuristicMax time.Duration
	// MaxStale caps the staleness a client may accept with the max-stale
	// request directive (RFC 9111 §5.2.1.2; §4.2.4 permits serving stale
	// when the client allows it, it never obliges the cache to). Without
	// a cap any client could read whatever stale response the cache still
	// holds, however old. Zero means 10 minutes; negative means max-stale
	// is never honoured.
	MaxStale time.Duration
	// IgnoreClientNoCache makes a fresh stored response serve every
	// request, whatever the request directives that would have it
	// validated first: no-cache (RFC 9111 §5.2.1.4), Pragma: no-cache
	// (§5.4), max-age (§5.2.1.1; browsers reload with max-age=0) and
	// min-fresh (§5.2.1.3). RFC 9111 lets a client ask; a CDN may decline
	// so that no client can force traffic to the origin. False keeps RFC
	// 9111's behaviour.
	IgnoreClientNoCache bool
	// Shield is true when this cache is an origin shield whose own clients are
	// edge caches. It changes nothing in storage or freshness; it is here so
	// that header filtering can keep targeted fields for the next CDN hop.
	Shield bool
}

// Response is what the rules need to know about a stored response.
type Response struct {
	Status       int
	Header       http.Header
	RequestTime  time.Time // when the request that fetched it was sent (RFC 9111 §4.2.3 request_time)
	ResponseTime time.Time // when the response was received (response_time)
	// Purged is set when a purge marked the stored response stale: it is
	// stale now, whatever its freshness lifetime says. PurgedAt is when a
	// soft purge marked it; stale-while-revalidate and stale-if-error count
	// from it (the staleness is the larger of the time since the purge and
	// the time since it expired). A zero PurgedAt means the response must
	// be validated before any use (a hard purge overlapped its fetch, or
	// the time is unknown).
	Purged   bool
	PurgedAt time.Time
	// Facts, when not nil, are ParseFacts of a Response with this Header
	// and ResponseTime: the rules read them instead of parsing Header
	// again. Nil means parse Header on each call.
	Facts *Facts
}

// Action is what a cache does with a stored response for a request.
type Action int

const (
	// Serve means the stored response is fresh enough for this request.
	Serve Action = iota
	// ServeStale means serve the stale response now and revalidate it in the
	// background (RFC 5861 stale-while-revalidate, or the request's max-stale).
	ServeStale
	// Revalidate means the response must be validated with the origin first
	// (RFC 9111 §4.3); serving it without validation is not allowed.
	Revalidate
)

// Decision is the outcome of Decide.
type Decision struct {
	Action Action
	// Age is the response's current age (RFC 9111 §4.2.3).
	Age time.Duration
	// TTL is the freshness lifetime minus the current age: negative when stale.
	TTL time.Duration
	// Background is true with ServeStale when a background revalidation should
	// be started (stale-while-revalidate); false when max-stale alone allowed it.
	Background bool
	// Detail says why, for the Cache-Status detail parameter ("no-cache",
	// "max-age", "stale-while-revalidate", ...); empty for a plain fresh hit.
	Detail string
	// Fwd is the Cache-Status fwd parameter of a Revalidate (RFC 9211
	// §2.2): FwdRequest when the response is fresh but the request's
	// directives forbade using it, else FwdStale.
	Fwd string
}
