package edge

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"edged/edge/cors"
)

// TestVaryOriginAbsentMatchesAbsent: a response that varies on Origin,
// fetched by a request without Origin, is the stored variant for "no
// Origin": RFC 9111 §4.1 matches an absent field with an absent field, so
// the next request without Origin is a hit, whichever other Origins'
// variants are stored beside it. Vary: Origin comes from the origin server
// (on a route with or without a cors policy) or from the edge's own guard
// (policy.VaryOrigin, for an Access-Control-Allow-Origin naming one
// origin).
func TestVaryOriginAbsentMatchesAbsent(t *testing.T) {
	for _, tt := range []struct {
		name string
		vary bool // the origin server sends Vary: Origin; else the guard adds it
		cors bool // the route has a cors policy
	}{
		{"origin server's Vary", true, false},
		{"origin server's Vary under a cors policy", true, true},
		{"the edge's guard", false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			var mu sync.Mutex
			fetches := map[string]int{} // by the request's Origin
			o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
				origin := r.Header.Get("Origin")
				mu.Lock()
				fetches[origin]++
				n := fetches[origin]
				mu.Unlock()
				w.Header().Set("Cache-Control", "public, max-age=600")
				if tt.vary {
					w.Header().Set("Vary", "Origin")
				}
				// An allowed origin of its own choosing when none is sent.
				w.Header().Set("Access-Control-Allow-Origin", "https://default.example")
				fmt.Fprintf(w, "for %q, fetch %d", origin, n)
			})
			route := &Route{PathPrefix: "/", Upstream: upstreamTo(t, o.URL)}
			if tt.cors {
				p, err := cors.New(cors.Options{AllowedOrigins: []string{"https://app.example"}})
				if err != nil {
					t.Fatal(err)
				}
				route.CORS = p
			}
			e := routedEdge(t, c, &Site{Name: "s", Hosts: []string{"s.example"}, Routes: []*Route{route}})
			get := func(origin string) (*http.Response, string) {
				t.Helper()
				e.settle(t)
				fields := []string{"Host", "s.example"}
				if origin != "" {
					fields = append(fields, "Origin", origin)
				}
				return e.get(t, "/v", fields...)
			}
			resp, body := get("")
			if resp.StatusCode != http.StatusOK || isHit(resp) || body != `for "", fetch 1` {
				t.Fatalf("first request without Origin: %d %q, Cache-Status %q", resp.StatusCode, body, resp.Header.Get("Cache-Status"))
			}
			if resp, body := get("https://app.example"); isHit(resp) || body != `for "https://app.example", fetch 1` {
				t.Errorf("with an Origin: %q, Cache-Status %q; want its own variant, fetched", body, resp.Header.Get("Cache-Status"))
			}
			for i := range 2 {
				resp, body := get("")
				if !isHit(resp) || body != `for "", fetch 1` {
					t.Errorf("request %d without Origin: %q, Cache-Status %q; want a hit on the stored no-Origin variant", i+2, body, resp.Header.Get("Cache-Status"))
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if fetches[""] != 1 {
				t.Errorf("the origin was asked %d times without Origin, want 1", fetches[""])
			}
		})
	}
}
