package config

import (
	"fmt"
	"strings"
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
	return out
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
