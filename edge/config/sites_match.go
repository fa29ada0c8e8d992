package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"edged/edge"
	"edged/internal/httpsyntax"
)

// Match holds a route's conditions on request values besides its path
// (edge.RouteMatch): every one must hold for the route to serve a request.
type Match struct {
	// Headers maps a header field name to the value one of its lines must
	// hold exactly (surrounding whitespace ignored).
	Headers map[string]string `yaml:"headers"`
	// Cookies maps a cookie name to the value it must hold exactly.
	Cookies map[string]string `yaml:"cookies"`
	// Query maps a query parameter name to the value one of its
	// occurrences must hold, percent-decoded.
	Query map[string]string `yaml:"query"`
}

// edgeMatch is m for edge.Route.Match: nil without conditions.
func (m Match) edgeMatch() *edge.RouteMatch {
	if len(m.Headers)+len(m.Cookies)+len(m.Query) == 0 {
		return nil
	}
	return &edge.RouteMatch{Headers: maps.Clone(m.Headers), Cookies: maps.Clone(m.Cookies), Query: maps.Clone(m.Query)}
}

// routeIdentity is what tells a site's routes apart: the path and the
// conditions. Two routes with the same identity can never both be chosen.
func routeIdentity(r Route) string { return r.Match.edgeMatch().Canonical(r.Path) }

// checkMatch validates a route's conditions (path is "sites[0].routes[1].match"):
// header and cookie names are tokens (RFC 9110 §5.1, RFC 6265 §4.1.1),
// header values carry no CR, LF or NUL and no surrounding whitespace (RFC
// 9110 §5.5: it is not part of a value, so it could never match), cookie
// values are cookie-octets (RFC 6265 §4.1.1), query names are not empty.
func (c *Config) checkMatch(path string, m Match) []*FieldError {
	var errs []*FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, c.fieldErrNear(path+"."+field, format, args...))
	}
	for _, name := range slices.Sorted(maps.Keys(m.Headers)) {
		v, field := m.Headers[name], "headers."+name
		switch {
		case !httpsyntax.IsToken(name):
			add(field, "invalid header name %q", name)
		case strings.EqualFold(name, "Cookie"):
			add(field, "match cookies with match.cookies, not the Cookie header")
		case strings.EqualFold(name, "Host"):
			add(field, "the host chooses the site (sites[].hosts), not a route")
		case strings.ContainsAny(v, "\r\n\x00"):
			add(field, "header value must not contain CR, LF or NUL")
		case strings.Trim(v, " \t") != v:
			add(field, "value %q has surrounding whitespace, which is not part of a field value and never matches", v)
		case c.unseenField(name) != "":
			add(field, "%s: the condition could never hold", c.unseenField(name))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(m.Cookies)) {
		v, field := m.Cookies[name], "cookies."+name
		switch {
		case !httpsyntax.IsToken(name):
			add(field, "invalid cookie name %q (want an HTTP token)", name)
		case !isCookieOctets(v):
			add(field, "invalid cookie value %q: no spaces, quotes, commas, semicolons, backslashes or control characters", v)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(m.Query)) {
		if name == "" {
			add("query", "empty parameter name")
		}
	}
	return errs
}

// checkRouteIdentities reports routes of a site that repeat another's path
// and conditions (path is "sites[0]").
func (c *Config) checkRouteIdentities(path string, s Site) []*FieldError {
	var errs []*FieldError
	seen := make(map[string]int)
	for j, r := range s.Routes {
		id := routeIdentity(r)
		if k, dup := seen[id]; dup {
			what := "path %q (same as %s.routes[%d])"
			if r.Match.edgeMatch() != nil {
				what = "path %q with the same match conditions (same as %s.routes[%d])"
			}
			errs = append(errs, c.fieldErrNear(fmt.Sprintf("%s.routes[%d].path", path, j), "repeated "+what, r.Path, path, k))
			continue
		}
		seen[id] = j
	}
	return errs
}

// unseenField says why a route never reads the request field name (the
// edge drops it before routing), or "" when it does. A route setting that
// reads such a field (a match condition, an API key header, a rate-limit
// key) would never see it: the condition never holds, every key is
// missing.
func (c *Config) unseenField(name string) string {
	switch {
	case strings.EqualFold(name, "Host"):
		return "the host is not read as a field: it chooses the site (sites[].hosts)"
	case strings.Contains(name, "_"):
		return `the edge drops fields whose name holds "_" before routing (docs/security.md)`
	case c.stripped(name):
		return "server.strip_request_headers removes this field before routing"
	}
	return ""
}

// stripped reports whether server.strip_request_headers (names, or
// prefixes ending in "*", X-Forwarded-For never) removes field name, as
// edge's fieldSet does.
func (c *Config) stripped(name string) bool {
	for _, p := range c.Server.StripRequestHeaders {
		prefix, wild := strings.CutSuffix(p, "*")
		if !wild && strings.EqualFold(p, name) ||
			wild && len(name) > len(prefix) && strings.EqualFold(name[:len(prefix)], prefix) && !strings.EqualFold(name, "X-Forwarded-For") {
			return true
		}
	}
	return false
}

// isCookieOctets reports whether s is made of RFC 6265 §4.1.1 cookie-octets.
func isCookieOctets(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b <= 0x20 || b >= 0x7f || b == '"' || b == ',' || b == ';' || b == '\\' {
			return false
		}
	}
	return true
}
