package edge

import (
	"io"
	"net/http"
	"strings"
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
