package edge

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"edged/edge/auth"
	"edged/edge/cors"
)

// corsEdge serves s.example with a route under /api/ that has policy, an
// origin that answers cacheable responses with CORS fields of its own (which
// the edge must not pass on) and counts its requests, and a route under /
// without a policy. With authKey, /api/ requires that API key.
func corsEdge(t *testing.T, opts cors.Options, authKey string) (*testEdge, *atomic.Int64) {
	t.Helper()
	c := newClock()
	var hits atomic.Int64
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Cache-Control", "public, max-age=600")
		w.Header().Set("Access-Control-Allow-Origin", "https://origin-chose.example")
		w.Header().Set("Access-Control-Allow-Credentials", "true")
		w.Header().Set("X-Total", "7")
		_, _ = w.Write([]byte("data " + r.Method))
	})
	policy, err := cors.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	api := &Route{PathPrefix: "/api/", Upstream: upstreamTo(t, o.URL), CORS: policy}
	if authKey != "" {
		v, err := auth.NewVerifier(auth.Options{APIKeys: &auth.APIKeyOptions{Keys: []string{authKey}}})
		if err != nil {
			t.Fatal(err)
		}
		api.Auth = v
	}
	e := routedEdge(t, c, &Site{Name: "s", Hosts: []string{"s.example"}, Routes: []*Route{
		{PathPrefix: "/", Upstream: upstreamTo(t, o.URL)}, api,
	}})
	return e, &hits
}

var credentialed = cors.Options{
	AllowedOrigins:   []string{"https://app.example", "https://*.tenant.example"},
	AllowedMethods:   []string{"GET", "HEAD", "PUT"},
	AllowedHeaders:   []string{"Content-Type", "X-Custom"},
	ExposedHeaders:   []string{"X-Total"},
	AllowCredentials: true,
	MaxAge:           10 * time.Minute,
}

// corsFields are a response's CORS fields, for messages and comparisons.
func corsFields(h http.Header) string {
	var b []string
	for _, name := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Allow-Methods",
		"Access-Control-Allow-Headers", "Access-Control-Max-Age", "Access-Control-Expose-Headers"} {
		if v := h.Values(name); len(v) > 0 {
			b = append(b, name+": "+strings.Join(v, ","))
		}
	}
	return strings.Join(b, "; ")
}

// TestCORSCachedResponseNoLeakAcrossOrigins fetches one cached object with
// different Origins, in both orders: each response carries the CORS fields
// of its own request (its own origin reflected when allowed, none when not,
// none without Origin), never those of the request that filled the cache
// nor the origin server's, and always Vary: Origin. The origin is asked
// once per object.
func TestCORSCachedResponseNoLeakAcrossOrigins(t *testing.T) {
	e, hits := corsEdge(t, credentialed, "")
	allowed := func(origin string) string {
		return "Access-Control-Allow-Origin: " + origin + "; Access-Control-Allow-Credentials: true; Access-Control-Expose-Headers: X-Total"
	}
	steps := []struct{ origin, want string }{
		{"https://app.example", allowed("https://app.example")},
		{"https://evil.example", ""},
		{"https://a.tenant.example", allowed("https://a.tenant.example")},
		{"", ""},
		{"https://tenant.example", ""}, // the wildcard covers subdomains only
		{"http://app.example", ""},     // another scheme is another origin
		{"https://app.example", allowed("https://app.example")},
	}
	for _, path := range []string{"/api/a", "/api/b"} {
		if path == "/api/b" {
			// The disallowed origin fills the cache this time.
			steps[0], steps[1] = steps[1], steps[0]
		}
		for i, s := range steps {
			fields := []string{"Host", "s.example"}
			if s.origin != "" {
				fields = append(fields, "Origin", s.origin)
			}
			resp, body := e.get(t, path, fields...)
			if resp.StatusCode != http.StatusOK || body != "data GET" {
				t.Fatalf("%s from %q: %d %q", path, s.origin, resp.StatusCode, body)
			}
			if got := corsFields(resp.Header); got != s.want {
				t.Errorf("%s step %d from %q: CORS fields %q, want %q", path, i, s.origin, got, s.want)
			}
			if vary := resp.Header.Values("Vary"); !slicesEqual(vary, []string{"Origin"}) {
				t.Errorf("%s step %d from %q: Vary %q, want exactly [Origin] (once, on hits too)", path, i, s.origin, vary)
			}
			if i > 0 && !isHit(resp) {
				t.Errorf("%s step %d: not a hit: %q", path, i, resp.Header.Get("Cache-Status"))
			}
		}
	}
	if n := hits.Load(); n != 2 {
		t.Errorf("origin asked %d times for 2 objects", n)
	}
	// A route without a policy passes the origin's CORS fields on.
	resp, _ := e.get(t, "/other", "Host", "s.example", "Origin", "https://evil.example")
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://origin-chose.example" {
		t.Errorf("route without cors: Access-Control-Allow-Origin %q, want the origin's", got)
	}
}

func slicesEqual(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

// TestCORSPreflightAtEdge sends preflights through real listeners: each is
// answered 204 by the edge without reaching the origin, even on a route
// that requires credentials (a preflight has none), with the policy's fields
// when origin, method and headers are allowed and with only Vary otherwise.
// An OPTIONS request that is not a preflight goes to the origin.
func TestCORSPreflightAtEdge(t *testing.T) {
	e, hits := corsEdge(t, credentialed, "secret-key")
	preflightVary := "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
	tests := []struct {
		name, origin, method, headers string
		want                          string
	}{
		{"allowed", "https://app.example", "PUT", "content-type,x-custom",
			"Access-Control-Allow-Origin: https://app.example; Access-Control-Allow-Credentials: true; Access-Control-Allow-Methods: PUT; " +
				"Access-Control-Allow-Headers: content-type,x-custom; Access-Control-Max-Age: 600"},
		{"allowed wildcard subdomain, no headers", "https://x.tenant.example", "GET", "",
			"Access-Control-Allow-Origin: https://x.tenant.example; Access-Control-Allow-Credentials: true; Access-Control-Allow-Methods: GET; Access-Control-Max-Age: 600"},
		{"origin not allowed", "https://evil.example", "PUT", "", ""},
		{"origin null", "null", "GET", "", ""},
		{"method not allowed", "https://app.example", "DELETE", "", ""},
		{"header not allowed", "https://app.example", "PUT", "authorization", ""},
	}
	for _, tt := range tests {
		fields := []string{"Host", "s.example", "Origin", tt.origin, "Access-Control-Request-Method", tt.method}
		if tt.headers != "" {
			fields = append(fields, "Access-Control-Request-Headers", tt.headers)
		}
		resp, _ := e.do(t, http.MethodOptions, "/api/items", fields...)
		if resp.StatusCode != http.StatusNoContent {
			t.Errorf("%s: status %d, want 204", tt.name, resp.StatusCode)
		}
		if got := corsFields(resp.Header); got != tt.want {
			t.Errorf("%s: CORS fields %q, want %q", tt.name, got, tt.want)
		}
		if got := strings.Join(resp.Header.Values("Vary"), ", "); got != preflightVary {
			t.Errorf("%s: Vary %q, want %q", tt.name, got, preflightVary)
		}
		if !strings.Contains(cacheStatus(resp), "detail=cors-preflight") {
			t.Errorf("%s: Cache-Status %q", tt.name, resp.Header.Get("Cache-Status"))
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("preflights reached the origin %d times", n)
	}
	// Not a preflight: no Access-Control-Request-Method.
	resp, _ := e.do(t, http.MethodOptions, "/api/items", "Host", "s.example", "Origin", "https://app.example", "X-API-Key", "secret-key")
	if resp.StatusCode != http.StatusOK || hits.Load() != 1 {
		t.Errorf("plain OPTIONS: status %d, origin asked %d times; want 200 from the origin", resp.StatusCode, hits.Load())
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
		t.Errorf("plain OPTIONS: Access-Control-Allow-Origin %q", got)
	}
	// The route's auth still guards actual requests, whose 401 carries the
	// CORS fields so the page can read it.
	resp, _ = e.get(t, "/api/items", "Host", "s.example", "Origin", "https://app.example")
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Errorf("GET without key: status %d, CORS %q", resp.StatusCode, corsFields(resp.Header))
	}
}

// TestCORSAnyOrigin: with "*" and no credentials every origin gets "*",
// still with Vary: Origin; several Origin lines get no CORS field.
func TestCORSAnyOrigin(t *testing.T) {
	e, _ := corsEdge(t, cors.Options{AllowedOrigins: []string{"*"}}, "")
	resp, _ := e.get(t, "/api/x", "Host", "s.example", "Origin", "https://a.example")
	if got := corsFields(resp.Header); got != "Access-Control-Allow-Origin: *" {
		t.Errorf("CORS fields %q, want only Access-Control-Allow-Origin: *", got)
	}
	if got := resp.Header.Get("Vary"); got != "Origin" {
		t.Errorf("Vary %q", got)
	}
	resp, _ = e.get(t, "/api/x", "Host", "s.example", "Origin", "https://a.example", "Origin", "https://b.example")
	if got := corsFields(resp.Header); got != "" {
		t.Errorf("two Origin lines: CORS fields %q, want none", got)
	}
}

// TestNoCORSPolicyOriginAnswerNotShared: on a route without a cors policy,
// an origin server that answers one Origin (a specific
// Access-Control-Allow-Origin, with credentials) and forgets Vary: Origin
// does not have its answer served to another origin: the edge stores it as
// varying on Origin (Fetch §3.2.5), so each origin, and a request without
// one, gets the answer the origin server gave it, and each origin's is
// then a hit. An answer allowing "*" is the same for all and stays shared.
func TestNoCORSPolicyOriginAnswerNotShared(t *testing.T) {
	c := newClock()
	var mu sync.Mutex
	fetches := map[string]int{} // by request Origin
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		mu.Lock()
		fetches[r.URL.Path+" "+origin]++
		mu.Unlock()
		w.Header().Set("Cache-Control", "public, max-age=600")
		switch {
		case r.URL.Path == "/any":
			w.Header().Set("Access-Control-Allow-Origin", "*")
		case origin != "":
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Allow-Credentials", "true")
		}
		_, _ = w.Write([]byte("for " + origin))
	})
	e := routedEdge(t, c, &Site{Name: "s", Hosts: []string{"s.example"}, Routes: []*Route{
		{PathPrefix: "/", Upstream: upstreamTo(t, o.URL)},
	}})
	get := func(path, origin string) (*http.Response, string) {
		t.Helper()
		fields := []string{"Host", "s.example"}
		if origin != "" {
			fields = append(fields, "Origin", origin)
		}
		e.settle(t)
		return e.get(t, path, fields...)
	}
	for round := range 2 { // the first fills, the second hits
		for _, origin := range []string{"https://a.example", "https://b.example", ""} {
			resp, body := get("/me", origin)
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != origin || body != "for "+origin {
				t.Errorf("round %d from %q: Access-Control-Allow-Origin %q, body %q: another origin's answer", round, origin, got, body)
			}
			if origin == "" {
				continue // no CORS field, no Vary: not this guard's concern
			}
			if round == 1 && !isHit(resp) {
				t.Errorf("round %d from %q: not a hit: %q", round, origin, resp.Header.Get("Cache-Status"))
			}
			if !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Origin") {
				t.Errorf("from %q: Vary %q, want Origin listed", origin, resp.Header.Values("Vary"))
			}
		}
	}
	// "*" answers every origin alike: one fill serves them all.
	for i, origin := range []string{"https://a.example", "https://b.example"} {
		resp, _ := get("/any", origin)
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" || (i > 0 && !isHit(resp)) {
			t.Errorf("/any from %q: Access-Control-Allow-Origin %q, Cache-Status %q; want *, a hit after the first", origin, got, resp.Header.Get("Cache-Status"))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, k := range []string{"/me https://a.example", "/me https://b.example", "/any https://a.example"} {
		if fetches[k] != 1 {
			t.Errorf("origin asked %d times for %q, want once", fetches[k], k)
		}
	}
	if fetches["/any https://b.example"] != 0 {
		t.Errorf("/any fetched again for another origin: %v", fetches)
	}
}

// TestCORSWildcardMalformedOrigin: a "*." allowed origin is matched by
// rs/cors on its scheme prefix and domain suffix alone, so Origin values
// no browser sends but that end in the domain ("https://evil.example/.tenant.example",
// "https://evil.example@x.tenant.example") were reflected as allowed, with
// credentials. Only serialized origins (RFC 6454 §6.2) are matched now;
// real subdomains (any letter case) of listed origins still are.
func TestCORSWildcardMalformedOrigin(t *testing.T) {
	e, _ := corsEdge(t, credentialed, "")
	for origin, allowed := range map[string]bool{
		"https://x.tenant.example":                true,
		"https://a-b_c.X.tenant.example":          true,
		"https://evil.example/.tenant.example":    false,
		"https://evil.example@x.tenant.example":   false,
		"https://evil.example%2f.tenant.example":  false,
		"https://evil.example:443.tenant.example": false,
		"https://.tenant.example":                 false,
		"https://x..tenant.example":               false,
		"https://x y.tenant.example":              false,
		"https://x.tenant.example:":               false,
		"https://[::1].tenant.example":            false,
		"https://evil.example?.tenant.example":    false,
		"https://app.example":                     true,
		"https://app.example/":                    false,
	} {
		resp, _ := e.do(t, http.MethodOptions, "/api/items", "Host", "s.example", "Origin", origin, "Access-Control-Request-Method", "GET")
		if got := resp.Header.Get("Access-Control-Allow-Origin") != ""; got != allowed {
			t.Errorf("Origin %q: allowed %v, want %v (%s)", origin, got, allowed, corsFields(resp.Header))
		}
	}
}
