package forward

import (
	"net/netip"
	"time"

	"golang.org/x/time/rate"
)

// RuleRequest is what the proxy knows when it asks its Rules. It mirrors
// rules.Request of edge/forward/rules (/work/coord/forward-rules-api.md)
// until that package lands, then becomes an alias of it.
type RuleRequest struct {
	Client netip.Addr // the client's address
	User   string     // the authenticated user; "" without authentication
	Groups []string   // the user's groups
	Host   string     // lower-case, no trailing dot, no port, no brackets
	Port   int        // destination port
	Method string     // "CONNECT" for tunnels
	// Addr is what Host resolved to (the literal for an IP host); the zero
	// Addr when the rules do not need it or resolution failed.
	Addr netip.Addr
}

// RuleDecision is the Rules' answer; the zero RuleDecision denies.
type RuleDecision struct {
	Allow bool
	// Rule names the rule that decided ("default" when none matched).
	Rule string
	// Category is the first category list naming Host, "" for none.
	Category string
	// Limited says the deny comes from a request-rate limit (429).
	Limited    bool
	RetryAfter time.Duration
	// Bandwidth, when set, bounds the client's bytes per second; the proxy
	// waits on it before writing each chunk it relays.
	Bandwidth *rate.Limiter
}
