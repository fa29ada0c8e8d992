package edge

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"edged/edge/clientip"
	"edged/internal/fielderr/fieldtest"
	"edged/origin"
	"edged/storage"
)

func upstreamTo(t testing.TB, url string) *origin.Client {
	t.Helper()
	up, err := origin.New(origin.Options{Origin: url, Via: "edged"})
	if err != nil {
		t.Fatal(err)
	}
	return up
}

// routedEdge serves sites through a Router.
func routedEdge(t testing.TB, c *clock, sites ...*Site) *testEdge {
	t.Helper()
	return routedEdgeWith(t, c, Options{}, sites...)
}

// routedEdgeWith is routedEdge with opts for the Handler's other options.
func routedEdgeWith(t testing.TB, c *clock, opts Options, sites ...*Site) *testEdge {
	t.Helper()
	rt, err := NewRouter(sites)
	if err != nil {
		t.Fatal(err)
	}
	store, err := storage.Open(storage.Options{Dir: t.TempDir(), Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	opts.Name, opts.Store, opts.Router, opts.Now = "edged", store, rt, c.Now
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e := &testEdge{Server: newPublicServer(t, h), handler: h, store: store}
	t.Cleanup(e.stop)
	return e
}

func TestRoutingByHostAndPath(t *testing.T) {
	c := newClock()
	api := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Server", "secret/1.0")
		_, _ = w.Write([]byte("api " + r.URL.RequestURI() + " " + r.Header.Get("X-Route") + r.Header.Get("X-Drop")))
	})
	web := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = w.Write([]byte("web " + r.URL.RequestURI()))
	})
	e := routedEdge(t, c, &Site{
		Name:  "example",
		Hosts: []string{"www.example.com", "*.example.net"},
		Routes: []*Route{
			{PathPrefix: "/", Upstream: upstreamTo(t, web.URL)},
			{PathPrefix: "/api/", Upstream: upstreamTo(t, api.URL), StripPrefix: true,
				RequestHeaders:  HeaderRules{Set: map[string]string{"X-Route": "api"}, Remove: []string{"X-Drop"}},
				ResponseHeaders: HeaderRules{Set: map[string]string{"X-Served-By": "edged"}, Remove: []string{"Server"}}},
		},
	})
	for _, tt := range []struct {
		host, path, body string
		status           int
	}{
		{"www.example.com", "/index.html", "web /index.html", 200},
		{"www.example.com", "/api/users?id=1", "api /users?id=1 api", 200},
		{"a.example.net", "/api/", "api / api", 200},
		{"example.net", "/", "", http.StatusMisdirectedRequest}, // the wildcard does not cover the apex
		{"a.b.example.net", "/", "", http.StatusMisdirectedRequest},
		{"other.example", "/", "", http.StatusMisdirectedRequest},
	} {
		resp, body := e.get(t, tt.path, "Host", tt.host, "X-Drop", "dropped")
		if resp.StatusCode != tt.status || (tt.status == 200 && body != tt.body) {
			t.Errorf("%s%s: status %d body %q, want %d %q", tt.host, tt.path, resp.StatusCode, body, tt.status, tt.body)
		}
		if strings.HasPrefix(tt.path, "/api/") && tt.status == 200 {
			if resp.Header.Get("Server") != "" || resp.Header.Get("X-Served-By") != "edged" {
				t.Errorf("response rules not applied: %v", resp.Header)
			}
		}
	}
}

func TestRouteCacheOverrides(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/none" {
			w.Header().Set("Cache-Control", "max-age=60")
		}
		_, _ = w.Write([]byte(r.URL.RequestURI()))
	})
	up := upstreamTo(t, o.URL)
	e := routedEdge(t, c, &Site{Name: "s", Hosts: []string{"s.example"}, Routes: []*Route{
		{PathPrefix: "/", Upstream: up, Cache: RouteCache{DefaultTTL: time.Minute}},
		{PathPrefix: "/keep", Upstream: up, Cache: RouteCache{KeepQuery: []string{"a", "b"}}},
		{PathPrefix: "/ignore", Upstream: up, Cache: RouteCache{IgnoreQuery: true}},
		{PathPrefix: "/bypass", Upstream: up, Cache: RouteCache{Bypass: true}},
	}})
	host := []string{"Host", "s.example"}
	_, body := e.get(t, "/keep?utm=1&b=2&a=1", host...)
	if body != "/keep?a=1&b=2" {
		t.Errorf("forwarded %q, want only the kept parameters, sorted", body)
	}
	if resp, _ := e.get(t, "/keep?a=1&utm=9&b=2", host...); !isHit(resp) {
		t.Error("requests differing only in dropped parameters did not share an entry")
	}
	_, body = e.get(t, "/ignore?x=1", host...)
	if body != "/ignore" {
		t.Errorf("forwarded %q, want the query dropped", body)
	}
	e.get(t, "/bypass", host...)
	if resp, _ := e.get(t, "/bypass", host...); isHit(resp) || !strings.Contains(resp.Header.Get("Cache-Status"), "fwd=bypass") {
		t.Errorf("bypass route served from cache: %q", resp.Header.Get("Cache-Status"))
	}
	// A response without any caching fields gets the route's lifetime.
	e.get(t, "/none", host...)
	c.Advance(30 * time.Second)
	resp, _ := e.get(t, "/none", host...)
	if !isHit(resp) || resp.Header.Get("Cdn-Cache-Control") != "" {
		t.Errorf("default TTL: Cache-Status %q, CDN-Cache-Control %q", resp.Header.Get("Cache-Status"), resp.Header.Get("Cdn-Cache-Control"))
	}
	c.Advance(time.Minute)
	if resp, _ := e.get(t, "/none", host...); isHit(resp) {
		t.Error("served past the default TTL")
	}
}

func TestSplitsAndStickyCookie(t *testing.T) {
	c := newClock()
	stable := newOrigin(t, c, static("stable", "Cache-Control", "max-age=60"))
	canary := newOrigin(t, c, static("canary", "Cache-Control", "max-age=60"))
	route := &Route{PathPrefix: "/", Upstream: upstreamTo(t, stable.URL), StickyCookie: "edged_split",
		Splits: []Split{{Name: "canary", Upstream: upstreamTo(t, canary.URL), Weight: 20}}}

	// The weighted draw: 20% canary within a tolerance over many picks.
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	canaries := 0
	const n = 20000
	for i := 0; i < n; i++ {
		if _, split, _ := route.pick(req); split == "canary" {
			canaries++
		}
	}
	if share := float64(canaries) / n; share < 0.18 || share > 0.22 {
		t.Errorf("canary share %.3f, want 0.20±0.02", share)
	}

	e := routedEdge(t, c, &Site{Name: "s", Hosts: []string{"s.example"}, Routes: []*Route{route}})
	for _, want := range []string{"stable", "canary"} {
		cookie := "edged_split=primary"
		if want == "canary" {
			cookie = "edged_split=canary"
		}
		for i := 0; i < 3; i++ {
			resp, body := e.get(t, "/page", "Host", "s.example", "Cookie", cookie)
			if body != want {
				t.Errorf("cookie %s: got %q", cookie, body)
			}
			if resp.Header.Get("Set-Cookie") != "" {
				t.Errorf("a pinned client was sent a new cookie")
			}
		}
	}
	resp, _ := e.get(t, "/page", "Host", "s.example")
	if !strings.HasPrefix(resp.Header.Get("Set-Cookie"), "edged_split=") {
		t.Errorf("a new client was not pinned: Set-Cookie %q", resp.Header.Get("Set-Cookie"))
	}
}

func TestNewRouterErrors(t *testing.T) {
	up := &origin.Client{}
	route := []*Route{{PathPrefix: "/", Upstream: up}}
	for _, tt := range []struct {
		name  string
		sites []*Site
		want  string
	}{
		{"duplicate host", []*Site{{Name: "a", Hosts: []string{"x.example"}, Routes: route}, {Name: "b", Hosts: []string{"X.example"}, Routes: route}},
			`edge: router option Sites[1].Hosts[0]: host "X.example" is already served by site "a"`},
		{"port in host", []*Site{{Name: "a", Hosts: []string{"x.example:80"}, Routes: route}}, "Sites[0].Hosts[0]: invalid host"},
		{"no routes", []*Site{{Name: "a", Hosts: []string{"x.example"}}}, "Sites[0].Routes: required: at least one route"},
		{"no upstream", []*Site{{Name: "a", Hosts: []string{"x.example"}, Routes: []*Route{{PathPrefix: "/"}}}}, "Sites[0].Routes[0].Upstream: required"},
	} {
		if _, err := NewRouter(tt.sites); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
}

// TestRouterOptionsValidate: each bad field of the router's sites is named
// by its Go path, which edge/config maps to the file's line.
func TestRouterOptionsValidate(t *testing.T) {
	valid := func() RouterOptions {
		up := &origin.Client{}
		return RouterOptions{Sites: []*Site{
			{Name: "a", Hosts: []string{"a.example", "*.a.example"}, Routes: []*Route{{PathPrefix: "/", Upstream: up}, {PathPrefix: "/api/", Upstream: up}}},
			// A wildcard does not claim its parent: both are served.
			{Name: "b", Hosts: []string{"b.example", "a.a.example"}, Routes: []*Route{{PathPrefix: "/", Upstream: up}}},
		}}
	}
	fieldtest.Run(t, valid, []fieldtest.Case[RouterOptions]{
		{Path: "Sites[0].Hosts", Bad: func(o *RouterOptions) { o.Sites[0].Hosts = nil }},
		{Path: "Sites[0].Hosts[1]", Bad: func(o *RouterOptions) { o.Sites[0].Hosts[1] = "a.*.example" }},
		{Path: "Sites[1].Hosts[0]", Bad: func(o *RouterOptions) { o.Sites[1].Hosts[0] = "b.example:80" }},
		{Path: "Sites[1].Hosts[0]", Bad: func(o *RouterOptions) { o.Sites[1].Hosts[0] = "" }},
		{Path: "Sites[1].Hosts[1]", Bad: func(o *RouterOptions) { o.Sites[1].Hosts[1] = "A.example" }},
		{Path: "Sites[1].Hosts[1]", Bad: func(o *RouterOptions) { o.Sites[1].Hosts[1] = "*.A.example" }},
		{Path: "Sites[0].Hosts[1]", Bad: func(o *RouterOptions) { o.Sites[0].Hosts[1] = "a.example" }},
		{Path: "Sites[1].Routes", Bad: func(o *RouterOptions) { o.Sites[1].Routes = nil }},
		{Path: "Sites[0].Routes[1].PathPrefix", Bad: func(o *RouterOptions) { o.Sites[0].Routes[1].PathPrefix = "api/" }},
		{Path: "Sites[0].Routes[1].PathPrefix", Bad: func(o *RouterOptions) { o.Sites[0].Routes[1].PathPrefix = "" }},
		{Path: "Sites[0].Routes[1].Upstream", Bad: func(o *RouterOptions) { o.Sites[0].Routes[1].Upstream = nil }},
	})
}

// A pool with no healthy server answers 503 at once, and stale-if-error
// content is served where allowed.
func TestNoHealthyPool(t *testing.T) {
	c := newClock()
	var broken atomic.Bool
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		if broken.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.Header().Set("Cache-Control", "max-age=10, stale-if-error=600")
		_, _ = w.Write([]byte("content"))
	})
	e := poolEdge(t, c, origin.PoolOptions{Name: "web", Servers: []origin.Server{{URL: o.URL}},
		Ejection: origin.Ejection{Failures: 1, Backoff: time.Hour}})
	host := []string{"Host", "s.example"}
	e.get(t, "/a", host...)
	broken.Store(true)
	e.get(t, "/b", host...) // a 500: ejects the only server
	start := time.Now()
	resp, _ := e.get(t, "/c", host...)
	wantStatus(t, resp, http.StatusServiceUnavailable, "detail=no-healthy-upstream")
	// At once: no upstream attempt, so one loopback round trip (the bound
	// leaves room for a loaded machine running -race).
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("503 took %v; want it at once", took)
	}
	// It says when the server may be back: its ejection's end.
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 3590 || ra > 3600 {
		t.Errorf("Retry-After %q, want the hour of the ejection", resp.Header.Get("Retry-After"))
	}
	c.Advance(time.Minute)
	resp, body := e.get(t, "/a", host...)
	wantStatus(t, resp, 200, "stale-if-error", "fwd-status=503")
	if body != "content" {
		t.Errorf("body %q", body)
	}
}

// A pool whose servers the active checks hold down answers 503 with a
// Retry-After of the next check (a client used to get none).
func TestNoHealthyPoolRetryAfterCheck(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError) // the checks too
	})
	e := poolEdge(t, c, origin.PoolOptions{Name: "web", Servers: []origin.Server{{URL: o.URL}},
		Health: origin.HealthCheck{Path: "/health", Interval: 7 * time.Second, StartDown: true}})
	resp, body := e.get(t, "/c", "Host", "s.example")
	wantStatus(t, resp, http.StatusServiceUnavailable, "detail=no-healthy-upstream")
	if got := resp.Header.Get("Retry-After"); got != "7" {
		t.Errorf("Retry-After %q, want 7 (the check interval)", got)
	}
	if !strings.Contains(body, "no-healthy-upstream") {
		t.Errorf("body %q does not say why", body)
	}
}

// poolEdge is an edge serving s.example through one route to a pool built
// from opts, closed when t ends.
func poolEdge(t *testing.T, c *clock, opts origin.PoolOptions) *testEdge {
	t.Helper()
	up := poolClient(t, opts)
	return routedEdge(t, c, &Site{Name: "s", Hosts: []string{"s.example"}, Routes: []*Route{{PathPrefix: "/", Upstream: up}}})
}

// poolClient is an upstream client of a pool built from opts, both closed
// when t ends.
func poolClient(t *testing.T, opts origin.PoolOptions) *origin.Client {
	t.Helper()
	pool, err := origin.NewPool(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	up, err := origin.New(origin.Options{Pool: pool, Via: "edged"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(up.Close)
	return up
}

// TestShieldNamedPoolAndSplits: on a shield, a pool its edge names that
// the shield has (Options.Pools) answers without the route's draw; one it
// lacks is fetched by its own route, whose splits stay apart as for any
// request. They shared the named pool's entry: a canary's answer was
// served for the primary.
func TestShieldNamedPoolAndSplits(t *testing.T) {
	c := newClock()
	stable := newOrigin(t, c, static("stable", "Cache-Control", "max-age=60"))
	canary := newOrigin(t, c, static("canary", "Cache-Control", "max-age=60"))
	poolA := newOrigin(t, c, static("pool a", "Cache-Control", "max-age=60"))
	route := &Route{PathPrefix: "/", Upstream: upstreamTo(t, stable.URL), StickyCookie: "edged_split",
		Splits: []Split{{Name: "canary", Upstream: upstreamTo(t, canary.URL), Weight: 50}}}
	opts := Options{
		ClientIP: clientip.New(clientip.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}),
		Pools:    map[string]*origin.Client{"a": upstreamTo(t, poolA.URL)},
	}
	opts.Policy.Shield = true
	e := routedEdgeWith(t, c, opts, &Site{Name: "s", Hosts: []string{"s.example"}, Routes: []*Route{route}})

	for _, tt := range []struct{ pool, cookie, want string }{
		{"unknown", "edged_split=canary", "canary"},
		{"unknown", "edged_split=primary", "stable"},
		{"unknown", "edged_split=canary", "canary"},
		{"a", "edged_split=canary", "pool a"},
	} {
		resp, body := e.get(t, "/page", "Host", "s.example", origin.PoolHeader, tt.pool, "Cookie", tt.cookie)
		if body != tt.want {
			t.Errorf("pool %s, %s: got %q, want %q (Cache-Status %q)", tt.pool, tt.cookie, body, tt.want, resp.Header.Get("Cache-Status"))
		}
	}
	// A named pool the shield has is the edge's choice: no draw, no cookie.
	if resp, _ := e.get(t, "/other", "Host", "s.example", origin.PoolHeader, "a"); resp.Header.Get("Set-Cookie") != "" {
		t.Errorf("a request for pool a was pinned to a split: Set-Cookie %q", resp.Header.Get("Set-Cookie"))
	}
}
