package edge

import (
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"edged/edge/auth"
	"edged/edge/policy"
	"edged/edge/ratelimit"
)

// RateKey says whose budget a request spends on a route with a RateLimit.
// Requests that carry no such key (no verified identity of the kind, no
// header) spend their client address's budget.
type RateKey struct {
	// By is what identifies a client: RateByIP (also ""), RateByAPIKey,
	// RateBySubject, RateByBasicUser or RateByHeader.
	By string
	// Header is the field read for RateByHeader.
	Header string
}

// The values of RateKey.By.
const (
	RateByIP      = "ip"
	RateByAPIKey  = "api_key" // the verified API key (never the raw header)
	RateBySubject = "jwt_sub" // the verified token's "sub"
	RateByHeader  = "header"  // a header's value, as the client sent it
	// RateByBasicUser is the verified HTTP Basic user name.
	RateByBasicUser = "basic_user"
)

// afterAuth reports whether the key is known only once the request is
// authenticated: a subject or API key taken before verification would let
// a client spend (or exhaust) anyone's budget with a forged token.
func (k RateKey) afterAuth(route *Route) bool {
	return route.Auth != nil && (k.By == RateByAPIKey || k.By == RateBySubject || k.By == RateByBasicUser)
}

// rateLimit spends one token of the request's budget on route, keyed by
// route.RateKey for id (the zero Identity when the request has none), and
// answers 429 when none is left. It reports false once it has answered.
func (x *exchange) rateLimit(route *Route, client netip.Addr, id auth.Identity, now time.Time) bool {
	lim := route.RateLimit
	var ok bool
	var wait time.Duration
	if kind, name := route.RateKey.name(x.r, id); name != "" {
		ok, wait = lim.AllowKey(kind, name, now)
	} else {
		ok, wait = lim.Allow(client, now)
	}
	if ok {
		return true
	}
	// RFC 6585 §4 and RFC 9110 §10.2.3: 429 with Retry-After in whole
	// seconds, rounded up, from the bucket's refill time.
	x.w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	x.refuse(http.StatusTooManyRequests, "too many requests", policy.DetailRateLimited)
	return false
}

// name is the request's client name under k, "" to count it by address.
func (k RateKey) name(r *http.Request, id auth.Identity) (ratelimit.Kind, string) {
	switch {
	case k.By == RateBySubject && id.Method == auth.MethodJWT:
		return ratelimit.KindSubject, id.Subject
	case k.By == RateByAPIKey && id.Method == auth.MethodAPIKey:
		return ratelimit.KindAPIKey, id.Subject
	case k.By == RateByBasicUser && id.Method == auth.MethodBasic:
		return ratelimit.KindBasic, id.Subject
	case k.By == RateByHeader:
		return ratelimit.KindHeader, headerKey(r, k.Header)
	}
	return 0, ""
}

// headerKey is the value of the header name, "" when absent or sent more
// than once (which value would count is ambiguous).
func headerKey(r *http.Request, name string) string {
	if v := r.Header.Values(name); len(v) == 1 {
		return v[0]
	}
	return ""
}
