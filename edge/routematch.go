package edge

import (
	"maps"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"

	"edged/edge/policy"
	"edged/internal/ascii"
	"edged/internal/httpsyntax"
)

// RouteMatch holds the conditions a request must meet, besides its path,
// for a route to serve it: values of request header fields, cookies and
// query parameters (a canary pool for "X-Canary: 1" or the cookie
// "beta=1"). Every condition must hold; the zero value has none.
//
// Precedence, applied by [Site.RouteFor] to the routes whose path prefix
// the request's path starts with:
//  1. the longest path prefix first;
//  2. among equal prefixes, the route with more conditions;
//  3. then the order of Site.Routes.
//
// The first route whose conditions all hold serves the request, so a route
// without conditions is the fallback of the conditional routes with its
// prefix (and, when it has none of its own, a shorter prefix's routes are).
//
// The choice of a route then depends on more than the URL: what a
// conditional route fetched is stored under the URL's key derived with the
// route's id (policy.Key.Route), never where the route without conditions
// stores the same URL; and the responses of every route a condition could
// have taken the request from carry Vary naming the header fields (and
// Cookie) the conditions read (RFC 9110 §12.5.5), so that caches after
// this one keep them apart too. Query conditions need no Vary: the query
// is part of every cache's key.
type RouteMatch struct {
	// Headers maps a field name (any case) to the value that one of the
	// request's field lines of that name must hold exactly, surrounding
	// whitespace ignored (RFC 9110 §5.5); letter case matters in values.
	Headers map[string]string
	// Cookies maps a cookie name to the value one of the request's cookies
	// of that name must hold exactly (RFC 6265 §5.4).
	Cookies map[string]string
	// Query maps a query parameter name to the value one of its
	// occurrences must hold, both percent-decoded; the query as the client
	// sent it, before the route's keep_query or ignore_query.
	Query map[string]string
}

// Len is the number of conditions.
func (m *RouteMatch) Len() int {
	if m == nil {
		return 0
	}
	return len(m.Headers) + len(m.Cookies) + len(m.Query)
}

// Canonical spells the conditions of a route with prefix in one way
// whatever the map order or header name case: two routes with the same
// Canonical can never be told apart.
func (m *RouteMatch) Canonical(prefix string) string {
	var b strings.Builder
	b.WriteString(prefix)
	if m == nil {
		return b.String()
	}
	write := func(kind string, conds map[string]string, fold bool) {
		names := slices.Sorted(maps.Keys(conds))
		for _, name := range names {
			key := name
			if fold {
				key = strings.ToLower(name)
			}
			b.WriteString("\x00" + kind + ":" + key + "=" + conds[name])
		}
	}
	write("h", m.Headers, true)
	write("c", m.Cookies, false)
	write("q", m.Query, false)
	return b.String()
}

// holds reports whether req meets every condition; a nil req meets none.
func (m *RouteMatch) holds(req *http.Request) bool {
	if m.Len() == 0 {
		return true
	}
	if req == nil {
		return false
	}
	for name, want := range m.Headers {
		if !headerHolds(req.Header.Values(name), want) {
			return false
		}
	}
	for name, want := range m.Cookies {
		if !slices.ContainsFunc(req.CookiesNamed(name), func(c *http.Cookie) bool { return c.Value == want }) {
			return false
		}
	}
	if len(m.Query) > 0 {
		q, _ := url.ParseQuery(req.URL.RawQuery) // what parses of a malformed query
		for name, want := range m.Query {
			if !slices.Contains(q[name], want) {
				return false
			}
		}
	}
	return true
}

// headerHolds reports whether one of a field's lines, without surrounding
// whitespace (RFC 9110 §5.5: OWS is not part of the value), is want.
func headerHolds(lines []string, want string) bool {
	for _, line := range lines {
		if strings.Trim(line, " \t") == want {
			return true
		}
	}
	return false
}

// routeState is what NewRouter prepares on a route for its conditions.
type routeState struct {
	// id derives the cache key of a conditional route (policy.Key.Route);
	// "" for a route without conditions.
	id string
	// vary are the names the route's responses carry in Vary: the fields
	// that conditions read on the way to this route, sorted; nil if none.
	vary []string
}

// prepareMatches orders s.Routes by precedence (RouteMatch) and fills each
// route's id and Vary.
func (s *Site) prepareMatches() {
	slices.SortStableFunc(s.Routes, func(a, b *Route) int {
		if d := len(b.PathPrefix) - len(a.PathPrefix); d != 0 {
			return d
		}
		return b.Match.Len() - a.Match.Len()
	})
	for i, r := range s.Routes {
		r.state = routeState{}
		if r.Match.Len() > 0 {
			r.state.id = policy.RouteID(r.Match.Canonical(r.PathPrefix))
		}
		// The conditional routes consulted before r for some path r
		// serves: those ordered before it (or r itself) whose prefix
		// extends r's. A superset for a given path, which only costs
		// downstream caches some sharing.
		fields := map[string]bool{}
		for _, c := range s.Routes[:i+1] {
			if c.Match.Len() == 0 || !strings.HasPrefix(c.PathPrefix, r.PathPrefix) {
				continue
			}
			for name := range c.Match.Headers {
				fields[textproto.CanonicalMIMEHeaderKey(name)] = true
			}
			if len(c.Match.Cookies) > 0 {
				fields["Cookie"] = true
			}
		}
		if len(fields) > 0 {
			r.state.vary = slices.Sorted(maps.Keys(fields))
		}
	}
}

// RouteFor returns the route serving req at path (the normalized path): the
// first, in precedence order (RouteMatch), whose prefix path starts with
// and whose conditions req meets. A nil req meets no condition.
func (s *Site) RouteFor(req *http.Request, path string) (*Route, bool) {
	for _, r := range s.Routes {
		if strings.HasPrefix(path, r.PathPrefix) && r.Match.holds(req) {
			return r, true
		}
	}
	return nil, false
}

// addVary adds the route's Vary names that the response does not list yet.
// The stored response's lines are never appended to in place: a hit's
// header may share them.
func (r *Route) addVary(h http.Header) {
	if r.state.vary != nil {
		h["Vary"] = httpsyntax.AppendList(h["Vary"], r.state.vary...)
	}
}

// foldedRoute is RouteFor with letter case folded in the prefix match: the
// route an origin that ignores case would see req go to.
func (s *Site) foldedRoute(req *http.Request, path string) *Route {
	for _, r := range s.Routes {
		if ascii.HasPrefixFold(path, r.PathPrefix) && r.Match.holds(req) {
			return r
		}
	}
	return nil
}
