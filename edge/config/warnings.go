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
			rp := fmt.Sprintf("sites[%d].routes[%d]", i, j)
			if lacks := c.guardsLacked(s.Routes, i, j, k); len(lacks) > 0 {
				out = append(out, c.fieldErrNear(rp+".match",
					"any client that sends these conditions is served by this route, which lacks the %s of routes[%d] (where its path goes without them): give it the same guards",
					strings.Join(lacks, " and "), k))
			}
		}
	}
	out = append(out, c.rewriteWarnings()...)
	out = append(out, c.shieldTrustWarnings()...)
	return append(out, c.forwardPortWarnings()...)
}

// shieldTrustWarnings: a shield with pools takes the pool an edge's route
// names (Edged-Pool) only from a peer in server.trusted_proxies; without
// any, every edge request is fetched and keyed as the default pool's, so
// two edge routes that rewrite to one path for different pools share one
// entry here (one tenant's object served as another's), without a word.
func (c *Config) shieldTrustWarnings() []*FieldError {
	if c.Role != RoleShield || len(c.Pools) == 0 || len(c.Server.TrustedProxies) > 0 {
		return nil
	}
	return []*FieldError{c.fieldErrNear("pools",
		"a shield takes the pool an edge's route names only from server.trusted_proxies, which is empty: the pools edges name are ignored, and edge routes of different pools that send one URL share one entry here; list the edges' networks there (docs/config.md, \"Pools through shields\")")}
}

// guardsLacked names the guards (auth, access, rate_limit, a waf that
// blocks) that routes[k] of site i has and routes[j] lacks.
func (c *Config) guardsLacked(routes []Route, i, j, k int) []string {
	r, f := routes[j], routes[k]
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
	return lacks
}

// rewriteWarnings names the routes that send their pool another path than
// the client's (strip_prefix, upstream_path) where that path may be one
// another route of the site sends the same pool, guarded by what the
// other route lacks. The edge routes by the client's path and cannot know
// that the pool serves both: a route "/static/" with strip_prefix beside
// a route "/admin/" with auth, both to the pool web, sends
// "/static/admin/users" to web as "/admin/users", and any client reaches
// the protected page without credentials; likewise a route "/v2/" with
// auth and strip_prefix sends "/v2/users" as "/users", which the open
// route "/" sends for "/users". Routes that rewrite nothing split the
// paths between them and are not compared. A rule in the lacking route's
// access.deny_paths that covers the guarded route's paths (matched
// against the path sent upstream too) answers it.
func (c *Config) rewriteWarnings() []*FieldError {
	var out []*FieldError
	for i, s := range c.Sites {
		for j, r := range s.Routes {
			rSpace, rField := upstreamSpace(r)
			for k, g := range s.Routes {
				gSpace, gField := upstreamSpace(g)
				if k == j || rField == "" && gField == "" || g.Match.edgeMatch() != nil || r.Match.edgeMatch() != nil ||
					poolOf(g) != poolOf(r) || !strings.HasPrefix(gSpace, rSpace) && !strings.HasPrefix(rSpace, gSpace) ||
					deniesPrefix(r.Access.DenyPaths, gSpace) {
					continue
				}
				lacks := slices.DeleteFunc(c.guardsLacked(s.Routes, i, j, k), func(g string) bool { return g == "access" })
				if accessLacked(r.Access, g.Access) {
					lacks = append(lacks, "access")
				}
				if len(lacks) == 0 {
					continue
				}
				if rField != "" {
					fix := "give it the same guards"
					if gSpace != "/" {
						fix += ", or list " + strings.TrimSuffix(gSpace, "/") + " in its access.deny_paths"
					}
					out = append(out, c.fieldErrNear(fmt.Sprintf("sites[%d].routes[%d].%s", i, j, rField),
						"this route sends pool %q paths under %s, which routes[%d] sends it guarded by %s that this route lacks: any client reaches them through this route; %s",
						poolOf(r), gSpace, k, strings.Join(lacks, " and "), fix))
					continue
				}
				out = append(out, c.fieldErrNear(fmt.Sprintf("sites[%d].routes[%d].%s", i, k, gField),
					"this route sends pool %q paths under %s guarded by its %s, which routes[%d] sends it without: any client reaches them through that route; give it the same guards, or this route a pool of its own",
					poolOf(g), rSpace, strings.Join(lacks, " and "), j))
			}
		}
	}
	return out
}

// upstreamSpace is what every path a route sends its pool begins with, and
// the field that rewrites it ("" when the path is sent as the client's).
func upstreamSpace(r Route) (space, field string) {
	switch {
	case r.UpstreamPath != "":
		// The template's text before its first capture.
		space, _, _ = strings.Cut(r.UpstreamPath, "{")
		return space, "upstream_path"
	case r.StripPrefix && r.Path != "/":
		return "/", "strip_prefix"
	}
	return routePrefix(r.Path), ""
}

// accessLacked reports whether g's access rules guard every path it
// sends (networks, user agents, time windows) and r's are not the same:
// deny_paths alone guard only their own paths, which they refuse in the
// path sent upstream too, and r's deny_paths do not stand for g's network
// rules.
func accessLacked(r, g Access) bool {
	if len(g.Allow) == 0 && len(g.Deny) == 0 && len(g.BlockUserAgents) == 0 && len(g.Windows) == 0 {
		return false
	}
	return !slices.Equal(r.Allow, g.Allow) || !slices.Equal(r.Deny, g.Deny) ||
		!slices.Equal(r.BlockUserAgents, g.BlockUserAgents) || !slices.EqualFunc(r.Windows, g.Windows, func(a, b Window) bool {
		return slices.Equal(a.Paths, b.Paths) && slices.Equal(a.Days, b.Days) && a.From == b.From && a.To == b.To && a.Timezone == b.Timezone && a.Action == b.Action
	})
}

// poolOf is the name of the pool a route's misses go to.
func poolOf(r Route) string {
	if r.Pool == "" {
		return DefaultPool
	}
	return r.Pool
}

// deniesPrefix reports whether a rule of denyPaths covers every path under
// prefix (letter case folded, as access rules match).
func deniesPrefix(denyPaths []string, prefix string) bool {
	p := strings.ToLower(prefix)
	for _, d := range denyPaths {
		d = strings.TrimSuffix(strings.ToLower(d), "/")
		if d == "" || p == d+"/" || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
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
