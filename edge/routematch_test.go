package edge

import (
	"net/http"
	"strings"
	"testing"
)

// matchSite is a site whose routes differ by path prefix and by header,
// cookie and query conditions, each route fetching from its own origin,
// which answers its name, cacheable. order lists the indexes of the routes
// in the order the site is configured with.
func matchSite(t *testing.T, c *clock, order ...int) *Site {
	t.Helper()
	routes := []struct {
		name, prefix string
		match        *RouteMatch
	}{
		{"base", "/", nil},
		{"canary", "/", &RouteMatch{Headers: map[string]string{"X-Canary": "1"}}},
		{"beta", "/", &RouteMatch{Cookies: map[string]string{"beta": "1"}}},
		{"v2", "/", &RouteMatch{Query: map[string]string{"v": "2"}}},
		{"canary+beta", "/", &RouteMatch{Headers: map[string]string{"x-canary": "1"}, Cookies: map[string]string{"beta": "1"}}},
		{"api", "/api/", nil},
		{"api-canary", "/api/", &RouteMatch{Headers: map[string]string{"X-Canary": "1"}}},
		{"only", "/only/", &RouteMatch{Headers: map[string]string{"X-Only": "yes"}}},
	}
	site := &Site{Name: "s", Hosts: []string{"s.example"}}
	for _, i := range order {
		name := routes[i].name
		o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "max-age=600")
			w.Header().Set("X-Route", name)
		})
		site.Routes = append(site.Routes, &Route{PathPrefix: routes[i].prefix, Match: routes[i].match, Upstream: upstreamTo(t, o.URL)})
	}
	return site
}

// TestRouteMatchPrecedence sends every combination of the conditions
// through real listeners, all to URLs the other combinations use too: the
// route each request takes follows the documented precedence (longest
// prefix, then most conditions, then configuration order), the second
// request of each is a hit served from the same route's copy (no route
// is served another's stored response for the same URL), and every
// response names the fields the choice read in Vary.
func TestRouteMatchPrecedence(t *testing.T) {
	tests := []struct {
		name, path string
		fields     []string
		want       string
	}{
		{"none matching: the route without conditions", "/page", nil, "base"},
		{"header only", "/page", []string{"X-Canary", "1"}, "canary"},
		{"header name in any case", "/page", []string{"x-CANARY", "1"}, "canary"},
		{"header, other value", "/page", []string{"X-Canary", "2"}, "base"},
		{"header value, surrounding whitespace", "/page?c=1", []string{"X-Canary", "1 "}, "canary"},
		{"header, one of two lines", "/page", []string{"X-Canary", "0", "X-Canary", "1"}, "canary"},
		{"cookie only", "/page", []string{"Cookie", "beta=1"}, "beta"},
		{"cookie among others", "/page", []string{"Cookie", "a=b; beta=1; c=d"}, "beta"},
		{"cookie, other value", "/page", []string{"Cookie", "beta=2"}, "base"},
		{"cookie name is case-sensitive", "/page", []string{"Cookie", "Beta=1"}, "base"},
		{"query only", "/page?v=2", nil, "v2"},
		{"query percent-encoded", "/page?v=%32", nil, "v2"},
		{"query, other value", "/page?v=3", nil, "base"},
		{"query value in a header does not count", "/page?v=3", []string{"v", "2"}, "base"},
		{"header and cookie: more conditions win", "/page", []string{"X-Canary", "1", "Cookie", "beta=1"}, "canary+beta"},
		{"header and query: equal count, configuration order", "/page?v=2", []string{"X-Canary", "1"}, "canary"},
		{"cookie and query: equal count, configuration order", "/page?v=2", []string{"Cookie", "beta=1"}, "beta"},
		{"all three", "/page?v=2", []string{"X-Canary", "1", "Cookie", "beta=1"}, "canary+beta"},
		{"longer prefix, no condition met", "/api/x", nil, "api"},
		{"longer prefix with its condition", "/api/x", []string{"X-Canary", "1"}, "api-canary"},
		{"longer prefix wins over more conditions", "/api/x", []string{"X-Canary", "1", "Cookie", "beta=1"}, "api-canary"},
		{"longer prefix without condition wins over a shorter one's", "/api/x?v=2", []string{"Cookie", "beta=1"}, "api"},
		{"conditional prefix, condition met", "/only/x", []string{"X-Only", "yes"}, "only"},
		{"conditional prefix, unmet: falls back to a shorter prefix", "/only/x", nil, "base"},
		{"conditional prefix unmet, shorter prefix's condition met", "/only/x", []string{"X-Only", "no", "X-Canary", "1"}, "canary"},
		{"conditional prefix beats more conditions on a shorter one", "/only/x", []string{"X-Only", "yes", "X-Canary", "1", "Cookie", "beta=1"}, "only"},
	}
	for _, order := range [][]int{
		{0, 1, 2, 3, 4, 5, 6, 7},
		// Reversed but for the equal-count pairs, whose configuration
		// order decides (canary before v2, beta before v2).
		{7, 6, 5, 4, 1, 2, 3, 0},
	} {
		c := newClock()
		e := routedEdge(t, c, matchSite(t, c, order...))
		for round := range 2 {
			for _, tt := range tests {
				resp, _ := e.get(t, tt.path, append([]string{"Host", "s.example"}, tt.fields...)...)
				if got := resp.Header.Get("X-Route"); got != tt.want || resp.StatusCode != http.StatusOK {
					t.Errorf("order %v round %d, %s: %s %q served by %q (status %d), want %q",
						order, round, tt.name, tt.path, tt.fields, got, resp.StatusCode, tt.want)
				}
				if round == 1 && !isHit(resp) {
					t.Errorf("order %v, %s: second request not a hit: %q", order, tt.name, resp.Header.Get("Cache-Status"))
				}
				wantVary := "Cookie, X-Canary, X-Only" // every conditional route is under "/"
				if strings.HasPrefix(tt.path, "/api/") {
					wantVary = "X-Canary"
				} else if strings.HasPrefix(tt.path, "/only/") && tt.want == "only" {
					wantVary = "X-Only"
				}
				if got := strings.Join(resp.Header.Values("Vary"), ", "); got != wantVary {
					t.Errorf("order %v, %s: Vary %q, want %q", order, tt.name, got, wantVary)
				}
			}
		}
	}
}

// TestRouteMatchNoConditionsNoChange checks that a site without conditions
// keys and answers as before: no derived key, no Vary added.
func TestRouteMatchNoConditionsNoChange(t *testing.T) {
	c := newClock()
	e := routedEdge(t, c, matchSite(t, c, 0, 5))
	resp, _ := e.get(t, "/page", "Host", "s.example", "X-Canary", "1")
	if v := resp.Header.Values("Vary"); len(v) != 0 || resp.Header.Get("X-Route") != "base" {
		t.Errorf("Vary %q, route %q; want none and base", v, resp.Header.Get("X-Route"))
	}
	if _, _, err := e.store.Get("http://s.example/page"); err != nil {
		t.Errorf("the route's response is not under the URL's own key: %v", err)
	}
}

// TestRouteMatchAmbiguity: a path an origin may read as one under another
// route is refused only when that route's conditions hold for the request.
func TestRouteMatchAmbiguity(t *testing.T) {
	c := newClock()
	e := routedEdge(t, c, matchSite(t, c, 0, 7))
	resp, _ := e.get(t, "/ONLY/x", "Host", "s.example", "X-Only", "yes")
	wantStatus(t, resp, http.StatusBadRequest)
	resp, _ = e.get(t, "/ONLY/x", "Host", "s.example")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Route") != "base" {
		t.Errorf("/ONLY/x without X-Only: status %d route %q, want 200 from base", resp.StatusCode, resp.Header.Get("X-Route"))
	}
}
