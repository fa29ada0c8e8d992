package edge

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strings"

	"edged/edge/auth"
	"edged/edge/policy"
)

// guard applies a site's and a route's admission rules, in the order a
// request should be turned away: wrong scheme, then who the client is
// (access rules), then how often it asks (rate limit), then credentials.
// It reports false once it has answered the request itself.
func (x *exchange) guard() bool {
	h, r := x.h, x.r
	if x.site != nil && x.site.HTTPSRedirect && x.t.Scheme == "http" {
		// The client's port is the plain-HTTP one: the HTTPS URL uses the
		// scheme's default port.
		host := x.t.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
			if strings.Contains(h, ":") {
				host = "[" + h + "]"
			}
		}
		target := "https://" + host + x.t.RequestURI()
		x.w.Header().Set("Location", target)
		// 308 keeps the method and body (RFC 9110 §15.4.9); 301 would let
		// clients turn a POST into a GET.
		x.refuse(http.StatusPermanentRedirect, "this site is served over HTTPS: "+target, policy.DetailHTTPSRedirect)
		return false
	}
	route := x.route
	if route.Access == nil && route.RateLimit == nil && route.Auth == nil {
		return true
	}
	now := h.opts.Now()
	client := h.client(r)
	if route.Access != nil {
		ok, reason := route.Access.Check(client, x.t.Path, userAgents(r.Header), now)
		if ok && (route.StripPrefix || route.UpstreamPath != "") {
			// strip_prefix and upstream_path send the origin another path
			// than the client's: a rule holds for both, since an operator
			// may write either ("/internal" on a route "/api/" with
			// strip_prefix names what the origin serves at /internal, and
			// matched against the client's path alone it refused nothing).
			if up := route.upstreamPath(x.t.Path, x.captures); up != x.t.Path {
				ok, reason = route.Access.CheckPath(up, now)
			}
		}
		if !ok {
			x.refuse(http.StatusForbidden, "forbidden: "+reason, policy.DetailAccessDenied)
			return false
		}
	}
	limitLate := route.RateLimit != nil && route.RateKey.afterAuth(route)
	if route.RateLimit != nil && !limitLate && !x.rateLimit(route, client, auth.Identity{}, now) {
		return false
	}
	if route.Auth != nil {
		id, err := route.Auth.Verify(r, now)
		verified := err == nil || errors.Is(err, auth.ErrInsufficientScope)
		if !verified {
			id = auth.Identity{} // spends the address's budget
		}
		if limitLate && !x.rateLimit(route, client, id, now) {
			return false
		}
		if err != nil {
			var be *auth.BasicError
			if errors.As(err, &be) {
				// As the forward proxy's 407: the log says which of the
				// user and the password was wrong, the client is not told.
				h.log.Info("basic authentication refused", "client", client.String(), "host", x.t.Host, "path", x.t.Path, "reason", be.Why)
			}
			x.w.Header().Set("WWW-Authenticate", route.Auth.Challenge(err))
			if verified {
				// RFC 6750 §3.1: insufficient_scope is a 403.
				x.refuse(http.StatusForbidden, "forbidden: "+err.Error(), policy.DetailInsufficientScope)
				return false
			}
			x.refuse(http.StatusUnauthorized, "unauthorized: "+err.Error(), policy.DetailUnauthenticated)
			return false
		}
		x.identity = id.Subject
		if len(route.AuthKey) > 0 {
			// The route's declared key parts: what the authenticated
			// response varies on (a tenant, a plan...).
			x.appendKey(policy.AppendAuthPartition, partition(id, route.AuthKey))
		}
	}
	return true
}

// userAgents is every User-Agent line of h, one per text line: a client
// that sent two (a browser's, then its own) must not pass a blocked
// substring by putting it second, since the origin may read either. A
// field value holds no LF, so no substring spans two lines.
func userAgents(h http.Header) string {
	switch v := h["User-Agent"]; len(v) {
	case 0:
		return ""
	case 1:
		return v[0]
	default:
		return strings.Join(v, "\n")
	}
}

// client is the request's client address: from the socket, or from
// forwarding headers only when the peer is a trusted proxy.
func (h *Handler) client(r *http.Request) netip.Addr {
	if h.opts.ClientIP != nil {
		return h.opts.ClientIP.ClientIP(r)
	}
	addr, _ := netip.ParseAddr(clientIP(r))
	return addr.Unmap()
}

// partition is the cache partition of id on a route whose responses vary
// on the claims names: their values, or for an API key its identity
// ("apikey#...", which holds no '=' and so never spells a claims
// partition). An API key has no claims: read as absent, every key would
// be one partition beside a claim other than "sub" (key_claims: [tenant]),
// and one key's holder was served the pages the origin made for
// another's. A Basic user is likewise a partition of its own.
func partition(id auth.Identity, names []string) string {
	switch id.Method {
	case auth.MethodAPIKey:
		return id.Subject
	case auth.MethodBasic:
		// A Basic user has no claims either: a partition of its own, in
		// hex so that no name spells a claims partition ("name=value;").
		return "basic#" + hex.EncodeToString([]byte(id.Subject))
	}
	return claimValues(id.Claims, id.Subject, names)
}

// claimValues renders the named claims ("sub" is the subject) in a fixed
// order for a cache key. Each value is written as JSON, so that values of
// different types or shapes never render alike (fmt.Sprint printed
// ["a b"] and ["a", "b"] both as [a b]: one partition for two clients).
func claimValues(claims map[string]any, subject string, names []string) string {
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	var b strings.Builder
	for _, name := range sorted {
		v := any(subject)
		if name != "sub" {
			v = claims[name]
		}
		text, err := json.Marshal(v)
		if err != nil {
			// Not from a decoded token: no claim value fails to encode.
			text = fmt.Appendf(nil, "%q", fmt.Sprint(v))
		}
		fmt.Fprintf(&b, "%s=%s;", name, text)
	}
	return b.String()
}
