package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"edged/edge/forward"
	"edged/edge/forward/rules"
	"edged/internal/portset"
)

// Warnings are what the configuration allows but an operator most likely
// did not mean, each at the field's line: edged starts with them and logs
// each one.
//
// A route chosen by match conditions is reached by any client that sends
// them (a header, a cookie, a query value: the client's to choose), so a
// guard (auth, access, rate_limit, a waf that blocks) that the route its
// path takes without the conditions has, and the conditional route lacks,
// is one any client can step around: X-Canary: 1 reaches a canary pool
// without credentials.
func (c *Config) Warnings() []*FieldError {
	var out []*FieldError
	for i, s := range c.Sites {
		for j, r := range s.Routes {
			if r.Match.edgeMatch() == nil {
				continue
			}
			k := fallbackRoute(s.Routes, r.Path)
			if k < 0 {
				continue
			}
			f := s.Routes[k]
			rp, fp := fmt.Sprintf("sites[%d].routes[%d]", i, j), fmt.Sprintf("sites[%d].routes[%d]", i, k)
			var lacks []string
			if f.Auth.enabled() && !r.Auth.enabled() {
				lacks = append(lacks, "auth")
			}
			if !f.Access.empty() && r.Access.empty() {
				lacks = append(lacks, "access")
			}
			if c.rateLimitOn(fp+".rate_limit", f.RateLimit) && !c.rateLimitOn(rp+".rate_limit", r.RateLimit) {
				lacks = append(lacks, "rate_limit")
			}
			if f.WAF.Mode == "block" && r.WAF.Mode != "block" {
				lacks = append(lacks, "waf")
			}
			if len(lacks) > 0 {
				out = append(out, c.fieldErrNear(rp+".match",
					"any client that sends these conditions is served by this route, which lacks the %s of routes[%d] (where its path goes without them): give it the same guards",
					strings.Join(lacks, " and "), k))
			}
		}
	}
	return append(out, c.forwardPortWarnings()...)
}

// forwardPortWarnings names what allow rules allow and the forward proxy
// refuses whatever its rules say: a destination network the dialer refuses
// (private, loopback, ...) that forward.dial.allow_networks does not open,
// and a port in neither
// forward.connect_ports (for CONNECT) nor forward.http_ports (for the
// other methods) gets 403 connect_ports or http_ports whatever the rules
// say, so "allow CONNECT to 22 for the admins" with the default
// connect_ports [443] lets nobody through.
func (c *Config) forwardPortWarnings() []*FieldError {
	if c.Role != RoleForward {
		return nil
	}
	def := forward.DefaultOptions()
	connect, http := portSet(c.Forward.ConnectPorts, def.ConnectPorts), portSet(c.Forward.HTTPPorts, def.HTTPPorts)
	allow := parseNetworks(c.Forward.Dial.AllowNetworks)
	var out []*FieldError
	for i, r := range c.Forward.Rules.List {
		if r.Action != rules.ActionAllow {
			continue
		}
		for j, n := range r.DestNetworks {
			pre, err := ParseNetwork(n)
			why := ""
			if err == nil {
				why = forward.RefusedNetwork(pre)
			}
			if why == "" || slices.ContainsFunc(allow, func(a netip.Prefix) bool { return a.Overlaps(pre) }) {
				continue
			}
			out = append(out, c.fieldErrNear(fmt.Sprintf("forward.rules.list[%d].dest_networks[%d]", i, j),
				"%s is %s: the proxy refuses it whatever the rules say unless forward.dial.allow_networks lists it, so this rule never lets it through", n, why))
		}
		tunnels := len(r.Methods) == 0 || slices.Contains(r.Methods, "CONNECT")
		requests := len(r.Methods) == 0 || slices.ContainsFunc(r.Methods, func(m string) bool { return m != "CONNECT" })
		for j, p := range r.Ports {
			pr, err := portset.Parse(p)
			if err != nil || tunnels && connect.Overlaps(pr) || requests && http.Overlaps(pr) {
				continue
			}
			lists := "forward.connect_ports"
			switch {
			case tunnels && requests:
				lists = "forward.connect_ports nor forward.http_ports"
			case requests:
				lists = "forward.http_ports"
			}
			out = append(out, c.fieldErrNear(fmt.Sprintf("forward.rules.list[%d].ports[%d]", i, j),
				"%s is not in %s, which the proxy checks before its rules (403): this rule never lets it through; add it there (and deny it below this rule to everyone else)", strings.TrimSpace(p), lists))
		}
	}
	return out
}

// portSet parses ports as the forward proxy does (bad entries are
// errors elsewhere); nil means def.
func portSet(ports, def []string) portset.Set {
	if ports == nil {
		ports = def
	}
	return portset.ParseList(ports, nil)
}

// fallbackRoute is the index of the route without conditions that a
// request for path takes when it meets no condition (the longest prefix,
// edge.Site.RouteFor), -1 if none.
func fallbackRoute(routes []Route, path string) int {
	best, bestLen := -1, -1
	for k, f := range routes {
		prefix := routePrefix(f.Path) // a pattern is routed by its literal prefix
		if f.Match.edgeMatch() != nil || !strings.HasPrefix(path, prefix) {
			continue
		}
		if len(prefix) > bestLen {
			best, bestLen = k, len(prefix)
		}
	}
	return best
}
