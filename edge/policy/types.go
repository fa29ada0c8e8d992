package policy

import (
	"cmp"
	"net/http"
	"time"

	"edged/internal/fielderr"
	"edged/internal/httpsyntax"
)

// Options tune the rules where RFC 9111 leaves a choice to the cache.
// The zero value is usable: the rules give a zero field the default named
// on it ([DefaultOptions] holds them all); nothing is turned off with a
// negative number (NoMaxStale says it).
type Options struct {
	// HeuristicFraction is the share of (Date - Last-Modified) used as a
	// heuristic freshness lifetime (RFC 9111 §4.2.2). Default 0.1.
	HeuristicFraction float64
	// HeuristicMax caps a heuristic lifetime. Default 24h.
	HeuristicMax time.Duration
	// MaxStale caps the staleness a client may accept with the max-stale
	// request directive (RFC 9111 §5.2.1.2; §4.2.4 permits serving stale
	// when the client allows it, it never obliges the cache to). Without
	// a cap any client could read whatever stale response the cache still
	// holds, however old. Default 10 minutes.
	MaxStale time.Duration
	// NoMaxStale makes the cache honour no max-stale at all (RFC 9111
	// §4.2.4 permits, never obliges), whatever MaxStale says.
	NoMaxStale bool
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
	// Surrogate is this cache's device token in Surrogate-Control (W3C
	// Edge Architecture Specification 1.0: the name it sends upstream in
	// Surrogate-Capability). Surrogate-Control directives targeted at it
	// ("max-age=60;NAME") or at no device apply; those targeted at another
	// are ignored. Empty: untargeted directives only.
	Surrogate string
}

// DefaultOptions returns the values the rules give the fields of Options
// left zero: a caller that validates (edge/config) starts from them, since
// [Options.Validate] takes every field as given.
func DefaultOptions() Options { return Options{}.WithDefaults() }

// WithDefaults returns o with zero fields replaced by their defaults: the
// one place that knows them.
func (o Options) WithDefaults() Options {
	o.HeuristicFraction = cmp.Or(o.HeuristicFraction, defaultHeuristicFraction)
	o.HeuristicMax = cmp.Or(o.HeuristicMax, defaultHeuristicMax)
	o.MaxStale = cmp.Or(o.MaxStale, defaultMaxStale)
	return o
}

// Validate reports every field of o that is out of range, each a
// [*fielderr.Error] naming the field, joined. It takes the fields as given,
// zero included: start from [DefaultOptions].
func (o Options) Validate() error {
	var l fielderr.List
	// RFC 9111 §4.2.2: a heuristic lifetime is a fraction of the time since
	// Last-Modified; 10% is typical, more than all of it is never sensible.
	l.Check(o.HeuristicFraction > 0 && o.HeuristicFraction <= 1, "HeuristicFraction", "must be above 0 and at most 1, got %v", o.HeuristicFraction)
	l.Check(o.HeuristicMax > 0, "HeuristicMax", "must be positive, got %v", o.HeuristicMax)
	if o.MaxStale < 0 {
		l.Addf("MaxStale", "must not be negative, got %v", o.MaxStale)
	} else {
		l.Check(o.MaxStale > 0 || o.NoMaxStale, "MaxStale", "must be positive (NoMaxStale honours no max-stale), got 0s")
	}
	l.Check(o.Surrogate == "" || httpsyntax.IsToken(o.Surrogate), "Surrogate", "must be an HTTP token (a Surrogate-Control device token), got %q", o.Surrogate)
	return l.Err()
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
	// MustRevalidate makes the rules treat r as if it carried
	// must-revalidate (RFC 9111 §5.2.2.2), whatever its header says: once
	// stale it is never served without validation (no max-stale,
	// stale-while-revalidate or stale-if-error, before or after a purge).
	// A cache sets it on a response stored for one user (PerUser).
	MustRevalidate bool
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
