package edge

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"edged/edge/policy"
)

// Per-user pages (issue 11 §2): a response to a request with a cookie or
// Authorization is stored only when it says it may be shared
// (policy.CredentialsAllow), so another client never reads it back, with
// or without max-stale. Every test here goes through a real edge and a real
// origin on 127.0.0.1.

// accountPage is an origin that answers with the page of whoever asks: the
// session cookie's value, the bearer token, or "anonymous"; fields are set
// on every answer.
func accountPage(fields ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user := "anonymous"
		if c, err := r.Cookie("session"); err == nil {
			user = c.Value
		}
		if a, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			user = a
		}
		for i := 0; i+1 < len(fields); i += 2 {
			w.Header().Set(fields[i], fields[i+1])
		}
		_, _ = io.WriteString(w, "account page of "+user)
	}
}

// privacySite is one site with a plain route and a route with a default TTL.
func privacySite(t testing.TB, c *clock, originURL string, p *policy.Options) (*testEdge, []string) {
	t.Helper()
	up := upstreamTo(t, originURL)
	e := routedEdge(t, c, &Site{Name: "www", Hosts: []string{"www.example"}, Policy: p, Routes: []*Route{
		{PathPrefix: "/", Upstream: up},
		{PathPrefix: "/ttl/", Upstream: up, Cache: RouteCache{DefaultTTL: time.Hour}},
	}})
	return e, []string{"Host", "www.example"}
}

// The attack: Alice's page, fetched with her cookie (or token), is read by
// a client without one, with max-stale or without; and by Bob. Each case is
// a way a response can be stored.
func TestPerUserPageNotShared(t *testing.T) {
	c := newClock()
	now := c.Now()
	alice := []string{"Cookie", "session=alice"}
	bob := []string{"Cookie", "session=bob"}
	tests := []struct {
		name   string
		path   string
		fields []string
		alice  []string // Alice's credentials
		bob    []string
	}{
		{"no Cache-Control", "/account/p1", nil, alice, bob},
		{"max-age=0", "/account/p1", []string{"Cache-Control", "max-age=0"}, alice, bob},
		{"max-age=0, stale-while-revalidate", "/account/p1", []string{"Cache-Control", "max-age=0, stale-while-revalidate=600"}, alice, bob},
		{"heuristic freshness (Last-Modified)", "/account/p1", []string{"Last-Modified", httpDate(now.Add(-240 * time.Hour))}, alice, bob},
		{"route default TTL", "/ttl/account", nil, alice, bob},
		{"no-cache with a validator", "/account/p1", []string{"Cache-Control", "no-cache", "Etag", `"p1"`}, alice, bob},
		{"must-revalidate with a validator", "/account/p1", []string{"Cache-Control", "must-revalidate", "Etag", `"p1"`}, alice, bob},
		{"Expires in the past", "/account/p1", []string{"Expires", httpDate(now.Add(-time.Minute))}, alice, bob},
		{"Age beyond max-age", "/account/p1", []string{"Cache-Control", "max-age=60", "Age", "120"}, alice, bob},
		{"Vary without freshness", "/account/p1", []string{"Vary", "Accept-Encoding"}, alice, bob},
		{"Vary: Cookie with max-age", "/account/p1", []string{"Vary", "Cookie", "Cache-Control", "max-age=60"}, alice, bob},
		// A Vary element that is not a field name varies on something the
		// cache cannot tell: never stored (it was stored as if it named
		// nothing, and Bob got Alice's public page).
		{"Vary: quoted Cookie, public", "/account/p1", []string{"Vary", `"Cookie"`, "Cache-Control", "public, max-age=60"}, alice, bob},
		{"Vary: Cookie; public", "/account/p1", []string{"Vary", "Cookie;", "Cache-Control", "public, max-age=60"}, alice, bob},
		{"Authorization, must-revalidate, heuristic", "/account/p1", []string{"Cache-Control", "must-revalidate", "Last-Modified", httpDate(now.Add(-240 * time.Hour))},
			[]string{"Authorization", "Bearer alice"}, []string{"Authorization", "Bearer bob"}},
		{"Authorization, route default TTL", "/ttl/account", nil, []string{"Authorization", "Bearer alice"}, []string{"Authorization", "Bearer bob"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrigin(t, c, accountPage(tt.fields...))
			e, host := privacySite(t, c, o.URL, nil)
			if _, body := e.get(t, tt.path, append(host, tt.alice...)...); body != "account page of alice" {
				t.Fatalf("Alice got %q", body)
			}
			c.Advance(time.Second)
			for _, other := range []struct {
				who    string
				fields []string
				want   string
			}{
				{"Bob, max-stale", append([]string{"Cache-Control", "max-stale"}, tt.bob...), "bob"},
				{"no credentials, max-stale", []string{"Cache-Control", "max-stale"}, "anonymous"},
				{"no credentials, max-stale=86400", []string{"Cache-Control", "max-stale=86400"}, "anonymous"},
				// The anonymous page may be stored now, for everyone: a
				// page answered without credentials is shared content.
				{"no credentials", nil, "anonymous"},
			} {
				resp, body := e.get(t, tt.path, append(host, other.fields...)...)
				if body != "account page of "+other.want {
					t.Errorf("%s got %q (Cache-Status %q), want the page of %s", other.who, body, resp.Header.Get("Cache-Status"), other.want)
				}
			}
		})
	}
}

// What a response says may be shared is still shared when the request had
// a cookie: static assets with max-age, public, s-maxage, Expires.
func TestCookieRequestStoresExplicitlyFresh(t *testing.T) {
	c := newClock()
	tests := []struct {
		name   string
		fields []string
	}{
		{"max-age", []string{"Cache-Control", "max-age=3600"}},
		{"s-maxage", []string{"Cache-Control", "s-maxage=3600"}},
		{"public", []string{"Cache-Control", "public", "Last-Modified", httpDate(c.Now().Add(-240 * time.Hour))}},
		{"Expires", []string{"Expires", httpDate(c.Now().Add(time.Hour))}},
		{"CDN-Cache-Control", []string{"Cdn-Cache-Control", "max-age=3600"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrigin(t, c, static("console.log(1)", tt.fields...))
			e, host := privacySite(t, c, o.URL, nil)
			resp, _ := e.get(t, "/static/app.js", append(host, "Cookie", "session=alice; _ga=1")...)
			wantStatus(t, resp, 200, "stored")
			resp, body := e.get(t, "/static/app.js", host...)
			wantStatus(t, resp, 200, "hit")
			if body != "console.log(1)" || o.requests.Load() != 1 {
				t.Errorf("body %q, origin requests %d; want the asset from the cache", body, o.requests.Load())
			}
		})
	}
}

// A response stored for everyone and then refreshed by a 304 to a request
// with a cookie: the 304 speaks to that user. Without freshness of its own
// it leaves the stored response as it was (stale, its fields unchanged),
// whatever lifetime the stored response had (its own max-age or the route's
// default TTL); with max-age it refreshes it for everyone.
func TestCookie304DoesNotRefreshForEveryone(t *testing.T) {
	for _, tt := range []struct {
		name     string
		path     string
		stored   []string // the 200's caching fields
		answer   []string // the 304's caching fields
		refreshs bool
	}{
		{"stored max-age, 304 without freshness", "/page", []string{"Cache-Control", "max-age=10"}, nil, false},
		{"route default TTL, 304 without freshness", "/ttl/page", nil, nil, false},
		{"stored max-age, 304 max-age=0", "/page", []string{"Cache-Control", "max-age=10"}, []string{"Cache-Control", "max-age=0"}, false},
		{"stored max-age, 304 max-age", "/page", []string{"Cache-Control", "max-age=10"}, []string{"Cache-Control", "max-age=10"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Etag", `"v1"`)
				if r.Header.Get("If-None-Match") == `"v1"` {
					fields := tt.answer
					if r.Header.Get("Cookie") != "" && !tt.refreshs {
						// Something about this user the origin adds to its answers.
						fields = append([]string{"X-User", "alice"}, fields...)
					}
					for i := 0; i+1 < len(fields); i += 2 {
						w.Header().Set(fields[i], fields[i+1])
					}
					w.WriteHeader(http.StatusNotModified)
					return
				}
				for i := 0; i+1 < len(tt.stored); i += 2 {
					w.Header().Set(tt.stored[i], tt.stored[i+1])
				}
				_, _ = io.WriteString(w, "shared page")
			})
			e, host := privacySite(t, c, o.URL, nil)
			resp, _ := e.get(t, tt.path, host...)
			wantStatus(t, resp, 200, "stored")
			c.Advance(2 * time.Hour) // past max-age and the default TTL

			resp, body := e.get(t, tt.path, append(host, "Cookie", "session=alice")...)
			wantStatus(t, resp, 200, "fwd=stale", "fwd-status=304")
			if body != "shared page" {
				t.Fatalf("Alice got %q", body)
			}
			if n := o.requests.Load(); n != 2 {
				t.Fatalf("origin requests = %d, want 2", n)
			}
			c.Advance(time.Second)
			for _, fields := range [][]string{{"Cache-Control", "max-stale"}, nil} {
				resp, body = e.get(t, tt.path, append(host, fields...)...)
				if got := resp.Header.Get("X-User"); got != "" || body != "shared page" {
					t.Errorf("%v: another client got X-User %q, body %q (Cache-Status %q)", fields, got, body, resp.Header.Get("Cache-Status"))
				}
			}
			// A plain request after Alice's: a hit only if her 304 refreshed
			// the stored response for everyone.
			if refreshed := o.requests.Load() == 2; refreshed != tt.refreshs {
				t.Errorf("refreshed for everyone = %v, want %v (origin requests %d)", refreshed, tt.refreshs, o.requests.Load())
			}
		})
	}
}

// A site's max_stale caps what a client's max-stale gets.
func TestSiteMaxStaleCap(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static("v", "Cache-Control", "max-age=10"))
	e, host := privacySite(t, c, o.URL, &policy.Options{MaxStale: time.Minute})
	e.get(t, "/a", host...)
	c.Advance(70 * time.Second) // 60 s stale
	resp, _ := e.get(t, "/a", append(host, "Cache-Control", "max-stale")...)
	wantStatus(t, resp, 200, "hit", "detail=max-stale")
	c.Advance(time.Second)
	resp, _ = e.get(t, "/a", append(host, "Cache-Control", "max-stale=3600")...)
	wantStatus(t, resp, 200, "fwd=stale")
	if n := o.requests.Load(); n != 2 {
		t.Errorf("origin requests = %d, want 2", n)
	}
}

// RFC 9211 §2.2: a fresh stored response that the request's directives
// forbade reports fwd=request; a stale one fwd=stale (issue 12).
func TestFwdRequest(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static("v", "Cache-Control", "max-age=60"))
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	e.get(t, "/a")
	for _, fields := range [][]string{
		{"Cache-Control", "no-cache"},
		{"Pragma", "no-cache"},
		{"Cache-Control", "max-age=0"},
		{"Cache-Control", "min-fresh=120"},
	} {
		c.Advance(time.Second)
		resp, _ := e.get(t, "/a", fields...)
		wantStatus(t, resp, 200, "fwd=request", "fwd-status=200")
	}
	c.Advance(time.Minute)
	resp, _ := e.get(t, "/a", "Cache-Control", "no-cache")
	wantStatus(t, resp, 200, "fwd=stale", "fwd-status=200")
}

// A site may decline clients' demands to revalidate a fresh response, so
// that no client can force traffic to the origin; a stale one is still
// revalidated.
func TestSiteIgnoresClientNoCache(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static("v", "Cache-Control", "max-age=60"))
	e, host := privacySite(t, c, o.URL, &policy.Options{IgnoreClientNoCache: true})
	e.get(t, "/a", host...)
	for _, fields := range [][]string{
		{"Cache-Control", "no-cache"},
		{"Pragma", "no-cache"},
		{"Cache-Control", "max-age=0"},
		{"Cache-Control", "no-cache, min-fresh=3600"},
	} {
		resp, _ := e.get(t, "/a", append(host, fields...)...)
		wantStatus(t, resp, 200, "hit")
	}
	if n := o.requests.Load(); n != 1 {
		t.Errorf("origin requests = %d, want 1", n)
	}
	c.Advance(time.Minute)
	resp, _ := e.get(t, "/a", append(host, "Cache-Control", "no-cache")...)
	wantStatus(t, resp, 200, "fwd=stale")
}

// An error page answered to Alice's request (with her cookie) is not handed
// to the requests that waited on her fetch: error pages often show the
// user's name, a CSRF token or a trace. Before, a 5xx was shared with every
// waiter (found by the issue 11 re-probe: `collapsed; detail=cookie`).
func TestCredentialedErrorNotShared(t *testing.T) {
	c := newClock()
	release := newGate()
	arrived := make(chan struct{}, 16)
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		user := "anonymous"
		if ck, err := r.Cookie("session"); err == nil {
			user = ck.Value
			release.wait() // Alice's fetch is slow: the others join it
		}
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, "error page of "+user)
	})
	t.Cleanup(release.open)
	e := newEdge(t, c, edgeConfig{upstream: o.URL})

	aliceDone := make(chan string, 1)
	go func() {
		_, body := e.get(t, "/broken", "Cookie", "session=alice")
		aliceDone <- body
	}()
	<-arrived
	const others = 3
	bad := make(chan string, others)
	var wg sync.WaitGroup
	for range others {
		wg.Go(func() {
			if _, body := e.get(t, "/broken"); body != "error page of anonymous" {
				bad <- body
			}
		})
	}
	waitJoined(t, e, others)
	release.open()
	wg.Wait()
	close(bad)
	for b := range bad {
		t.Errorf("a client without a cookie got %q", b)
	}
	if got := <-aliceDone; got != "error page of alice" {
		t.Errorf("alice got %q", got)
	}
}

// Alice's page, stored for her request because it gives itself a lifetime
// (max-age) but says neither public nor s-maxage (policy.CredentialsAllow),
// is shared while fresh (the documented rule) and never once stale
// (policy.PerUser): no client's max-stale, nor the page's own
// stale-while-revalidate or stale-if-error, hands it to a client without
// credentials; not after a soft purge, not from the disk tier of a
// restarted edge, not from slices. Before, each did for up to
// cache.max_stale or the page's windows (found by the issue 11 re-probe).
// A page that says public keeps today's behaviour.
func TestPerUserPageNotServedStale(t *testing.T) {
	const path, key = "/account/p1", "http://h.example/account/p1"
	alice := []string{"Cookie", "session=alice"}
	for _, tt := range []struct {
		name    string
		cc      string   // the Cache-Control of every page
		purge   bool     // soft-purged while fresh, instead of expiring
		restart bool     // read back from the disk tier of a restarted edge
		fail    bool     // the origin answers 503 once Alice has her page
		down    bool     // the origin is unreachable once Alice has her page
		sliced  bool     // kept in slices (Route.Cache.Slice)
		fields  []string // the other client's request fields
		status  int      // what the other client gets
		shared  bool     // public: served stale as before
	}{
		{name: "max-stale", cc: "max-age=1", fields: []string{"Cache-Control", "max-stale=600"}, status: 200},
		{name: "max-stale, disk tier after a restart", cc: "max-age=1", restart: true, fields: []string{"Cache-Control", "max-stale=600"}, status: 200},
		{name: "max-stale, slices", cc: "max-age=1", sliced: true, fields: []string{"Cache-Control", "max-stale=600"}, status: 200},
		{name: "stale-while-revalidate", cc: "max-age=1, stale-while-revalidate=600", status: 200},
		{name: "soft purge, stale-while-revalidate", cc: "max-age=600, stale-while-revalidate=600", purge: true, status: 200},
		{name: "stale-if-error", cc: "max-age=1, stale-if-error=600", fail: true, status: 503},
		{name: "request stale-if-error", cc: "max-age=1", fail: true, fields: []string{"Cache-Control", "stale-if-error=600"}, status: 503},
		{name: "stale-if-error, origin unreachable", cc: "max-age=1, stale-if-error=600", down: true, status: 502},
		{name: "public, max-stale", cc: "public, max-age=1", fields: []string{"Cache-Control", "max-stale=600"}, status: 200, shared: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			o := newOrigin(t, c, userPage("Cache-Control", tt.cc))
			cfg := edgeConfig{upstream: o.URL, dir: t.TempDir()}
			site := []string{"Host", "h.example"}
			if tt.sliced {
				cfg.slice, site = 64<<10, nil // the sliced route serves 127.0.0.1
			}
			e := newEdge(t, c, cfg)
			resp, body := e.get(t, path, append(site, alice...)...)
			wantStatus(t, resp, 200)
			if body != "account page of alice" {
				t.Fatalf("Alice got %q", body)
			}
			// While fresh it is shared: the documented rule.
			if resp, body := e.get(t, path, site...); body != "account page of alice" || !isHit(resp) {
				t.Fatalf("fresh: another client got %q (%s), want a hit on Alice's page", body, cacheStatus(resp))
			}
			e.store.Flush()
			if tt.purge {
				softPurge(t, e, key, true)
			} else {
				c.Advance(2 * time.Second) // a second past max-age
			}
			if tt.restart {
				e.stop()
				e = newEdge(t, c, cfg)
			}
			if tt.fail {
				o.set(func(w http.ResponseWriter, r *http.Request) {
					w.WriteHeader(http.StatusServiceUnavailable)
					_, _ = io.WriteString(w, "origin down")
				})
			}
			if tt.down {
				o.Close()
			}
			before := o.requests.Load()
			resp, body = e.get(t, path, append(site, tt.fields...)...)
			e.waitTasks(t) // a background revalidation, if one was started
			if resp.StatusCode != tt.status {
				t.Errorf("status %d (%s), want %d", resp.StatusCode, cacheStatus(resp), tt.status)
			}
			switch {
			case tt.shared:
				if body != "account page of alice" || !strings.Contains(cacheStatus(resp), "max-stale") {
					t.Errorf("public: got %q (%s), want Alice's page served stale", body, cacheStatus(resp))
				}
			case strings.Contains(body, "alice"):
				t.Errorf("a client without credentials got Alice's stale page %q (%s)", body, cacheStatus(resp))
			case !tt.fail && !tt.down && body != "account page of anonymous":
				t.Errorf("got %q (%s), want the anonymous page", body, cacheStatus(resp))
			case !tt.down && o.requests.Load() == before:
				t.Errorf("answered without asking the origin (%s)", cacheStatus(resp))
			}
		})
	}
}

// A 304 that refreshes Alice's page keeps it hers (policy.PerUser, kept
// through the refresh): here the origin validates by a version that does
// not tell users apart, and answers 304 to a revalidation that a client
// without credentials caused. The refreshed page is fresh for a second
// again, and once stale it is still never served without validation.
func TestPerUser304KeepsMark(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=1")
		w.Header().Set("Etag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		accountPage()(w, r)
	})
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	site := []string{"Host", "h.example"}
	e.get(t, "/account/p1", append(site, "Cookie", "session=alice")...)
	c.Advance(2 * time.Second)
	resp, _ := e.get(t, "/account/p1", site...)
	wantStatus(t, resp, 200, "fwd=stale", "fwd-status=304")
	e.store.Flush()
	if got, _, err := e.store.Get("http://h.example/account/p1"); err != nil || !got.MustRevalidate {
		t.Fatalf("after the 304: %v; want the entry still marked", err)
	}
	c.Advance(2 * time.Second)
	before := o.requests.Load()
	resp, _ = e.get(t, "/account/p1", append(site, "Cache-Control", "max-stale=600")...)
	wantStatus(t, resp, 200, "fwd=stale")
	if o.requests.Load() == before {
		t.Errorf("the refreshed page was served stale without validation (%s)", cacheStatus(resp))
	}
}

// TestStaleUnusableFailsAlike: a stored response that may not be served
// stale (must-revalidate, proxy-revalidate, s-maxage in a shared cache,
// no-cache, or the per-user mark, storage.Entry.MustRevalidate) and whose
// revalidation fails gets the answer a miss gets for the same failure:
// 502 when the upstream cannot be reached or breaks the exchange, the
// upstream's own 5xx when it answers one; never the stale page. RFC 9111
// §5.2.2.2 asks for an error, 504 "unless another error status code is
// more applicable": the status says what happened upstream and the
// Cache-Status detail names it (docs/design.md, "Conformance").
func TestStaleUnusableFailsAlike(t *testing.T) {
	kinds := []struct {
		name   string
		cc     string
		cookie bool
	}{
		{"cold miss", "", false},
		{"plain", "max-age=1", false},
		{"must-revalidate", "max-age=1, must-revalidate", false},
		{"proxy-revalidate", "max-age=1, proxy-revalidate", false},
		{"s-maxage", "s-maxage=1", false},
		{"no-cache", "max-age=600, no-cache", false},
		{"per-user", "max-age=1, stale-if-error=600", true},
	}
	failures := []struct {
		name   string
		status int
		detail string
		fail   func(o *testOrigin)
	}{
		{"unreachable", http.StatusBadGateway, policy.DetailUpstreamUnreachable, func(o *testOrigin) { o.Close() }},
		{"disconnect", http.StatusBadGateway, policy.DetailUpstreamError, func(o *testOrigin) {
			o.set(func(w http.ResponseWriter, r *http.Request) {
				if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
					conn.Close()
				}
			})
		}},
		{"503", http.StatusServiceUnavailable, "", func(o *testOrigin) {
			o.set(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
		}},
	}
	for _, k := range kinds {
		for _, f := range failures {
			t.Run(k.name+"/"+f.name, func(t *testing.T) {
				c := newClock()
				o := newOrigin(t, c, static("stored page", "Cache-Control", k.cc, "Etag", `"v1"`))
				e := newEdge(t, c, edgeConfig{upstream: o.URL})
				if k.cc != "" {
					var fields []string
					if k.cookie {
						fields = []string{"Cookie", "session=alice"}
					}
					if resp, _ := e.get(t, "/p", fields...); resp.StatusCode != http.StatusOK {
						t.Fatalf("store: %d", resp.StatusCode)
					}
					e.store.Flush()
				}
				c.Advance(2 * time.Second)
				f.fail(o)
				resp, body := e.get(t, "/p")
				if resp.StatusCode != f.status || strings.Contains(body, "stored page") {
					t.Errorf("status %d body %q (%s), want %d and not the stored page", resp.StatusCode, body, cacheStatus(resp), f.status)
				}
				if f.detail != "" && !strings.Contains(cacheStatus(resp), "detail="+f.detail) {
					t.Errorf("Cache-Status %q, want detail %s", cacheStatus(resp), f.detail)
				}
			})
		}
	}
}

// TestPerUserPageNotServedStaleThroughShield is the attack of the per-user
// rule across a hop: Alice's page, stored by the shield for her (marked,
// policy.PerUser), reached an edge through a request of Bob's that carried
// no cookie, and that edge, which saw no credentials, stored it unmarked
// and served it stale to every client (a max-stale, the page's own
// stale-while-revalidate) for as long after it expired. The shield now
// says must-revalidate on a marked entry's answers, in the field the edge
// obeys (Cache-Control, or the CDN-Cache-Control the shield passes on).
func TestPerUserPageNotServedStaleThroughShield(t *testing.T) {
	const path = "/account/p1"
	alice := []string{"Host", "h.example", "Cookie", "session=alice"}
	for _, tt := range []struct {
		name   string
		field  string // the response field that carries cc
		cc     string
		fields []string // Bob's request fields once the page is stale
	}{
		{name: "max-stale", field: "Cache-Control", cc: "max-age=1", fields: []string{"Cache-Control", "max-stale=600"}},
		{name: "stale-while-revalidate", field: "Cache-Control", cc: "max-age=1, stale-while-revalidate=600"},
		{name: "CDN-Cache-Control stale-while-revalidate", field: "CDN-Cache-Control", cc: "max-age=1, stale-while-revalidate=600"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			o := newOrigin(t, c, userPage(tt.field, tt.cc))
			shield := newEdge(t, c, edgeConfig{name: "shield", upstream: o.URL, shield: true})
			edgeA := newEdge(t, c, edgeConfig{name: "edge-a", shields: []string{shield.URL}})
			edgeB := newEdge(t, c, edgeConfig{name: "edge-b", shields: []string{shield.URL}})
			if _, body := edgeA.get(t, path, alice...); body != "account page of alice" {
				t.Fatalf("Alice got %q", body)
			}
			// While fresh it is shared, through the shield too: the
			// documented rule.
			resp, body := edgeB.get(t, path, "Host", "h.example")
			if body != "account page of alice" || o.requests.Load() != 1 {
				t.Fatalf("fresh: Bob got %q (%s), want Alice's page from the shield", body, cacheStatus(resp))
			}
			c.Advance(2 * time.Second) // a second past max-age
			resp, body = edgeB.get(t, path, append([]string{"Host", "h.example"}, tt.fields...)...)
			edgeB.waitTasks(t)
			shield.waitTasks(t)
			if body != "account page of anonymous" {
				t.Errorf("stale: Bob got %q (%s), want his own page", body, cacheStatus(resp))
			}
		})
	}
}

// userPage is an origin's page of the user its session cookie names
// ("anonymous" without one), with field (Cache-Control or a targeted
// field) set to cc and a strong validator per user (slices need one).
func userPage(field, cc string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user := "anonymous"
		if ck, err := r.Cookie("session"); err == nil {
			user = ck.Value
		}
		w.Header().Set(field, cc)
		w.Header().Set("Etag", `"`+user+`"`)
		http.ServeContent(w, r, "", time.Time{}, strings.NewReader("account page of "+user))
	}
}
