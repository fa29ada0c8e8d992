package edge

import (
	"net/http"
	"strings"
	"sync"
	"testing"
)

// collapsedCases are the responses the collapsed-request tests fetch:
// whether each may be shared with the requests waiting on its fetch.
var collapsedCases = []struct {
	cc     string
	shared bool
}{
	{"public, no-cache", false},
	{"public, max-age=0", false},
	{"no-cache, s-maxage=60", false},
	{"public, max-age=60", true},
	// What a hit would be served while it revalidates in the background:
	// shared, one fetch (before, each waiter fetched on its own). Without
	// public, a page for a cookie is a per-user page, never served stale.
	{"public, max-age=0, stale-while-revalidate=60", true},
	{"max-age=0, stale-while-revalidate=60", false},
}

// A response that needs validation before it answers any request but the
// one that fetched it (no-cache, RFC 9111 §5.2.2.4; stale as it arrives,
// §4.2.4) is not handed to the requests collapsed onto its fetch: each
// asks the origin itself, as a hit would have been validated. Before,
// a "public, no-cache" page the origin made for the leader's cookie (an
// origin that answers each user on revalidation) went to every client
// waiting on the fetch, whole or as a range while it arrived; so did a
// "public, max-age=0" one. A fresh response is still shared (the control).
func TestCollapsedNotGivenWhatNeedsValidation(t *testing.T) {
	testCollapsedCases(t, edgeConfig{}, func(w http.ResponseWriter, r *http.Request, cc string) {
		w.Header().Set("Cache-Control", cc)
		// Long enough to be sent as it arrives (streamFromBytes).
		_, _ = w.Write([]byte("for " + r.Header.Get("Cookie") + strings.Repeat(".", 64<<10)))
	})
}

// testCollapsedCases runs collapsedCases through an edge of cfg (its
// upstream set here) whose origin answers with serve, given the case's
// Cache-Control: alice's request leads the fetch, bob's and carol's
// (whole, or a range) join it, and each must get the body made for its
// own cookie unless the case's response may be shared.
func testCollapsedCases(t *testing.T, cfg edgeConfig, serve func(w http.ResponseWriter, r *http.Request, cc string)) {
	t.Helper()
	users := []string{"u=alice", "u=bob", "u=carol"}
	for _, tc := range collapsedCases {
		for _, rangeReq := range []bool{false, true} {
			name := tc.cc
			if rangeReq {
				name += ", range"
			}
			t.Run(name, func(t *testing.T) {
				c := newClock()
				release := newGate()
				o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
					release.wait()
					serve(w, r, tc.cc)
				})
				t.Cleanup(release.open)
				cfg := cfg
				cfg.upstream = o.URL
				e := newEdge(t, c, cfg)
				var wg sync.WaitGroup
				bodies := make([]string, len(users))
				statuses := make([]int, len(users))
				for i, user := range users {
					if i == 1 {
						// alice leads: her fetch reached the origin.
						waitFor(t, func() bool { return o.requests.Load() == 1 })
					}
					wg.Go(func() {
						fields := []string{"Cookie", user}
						if rangeReq && i > 0 {
							fields = append(fields, "Range", "bytes=0-9")
						}
						resp, body := e.get(t, "/page", fields...)
						statuses[i], bodies[i] = resp.StatusCode, body
					})
				}
				waitJoined(t, e, 2)
				release.open()
				wg.Wait()
				for i, user := range users {
					want := "for " + user
					if tc.shared {
						want = "for u=alice"
					}
					// An empty body is a prefix of every want: it must
					// not pass for one (an error with no body).
					if statuses[i] != http.StatusOK && statuses[i] != http.StatusPartialContent || bodies[i] == "" ||
						!strings.HasPrefix(bodies[i], want) && !strings.HasPrefix(want, bodies[i]) {
						t.Errorf("%s got %d %.20q, want %q", user, statuses[i], bodies[i], want)
					}
				}
			})
		}
	}
}

// A HEAD or a conditional request collapsed onto a fetch whose response
// needs validation before it answers another request ("public, no-cache")
// is not answered from that response's head while its body arrives
// (serveWhileFilling): it asks the origin itself, as a whole GET does
// (TestCollapsedNotGivenWhatNeedsValidation). Before, Bob's HEAD got the
// head made for Alice's cookie, and his If-None-Match naming her ETag a
// 304, with no request to the origin.
func TestCollapsedBodilessNotGivenWhatNeedsValidation(t *testing.T) {
	for _, how := range []string{"HEAD", "INM"} {
		t.Run(how, func(t *testing.T) {
			c := newClock()
			o, release := perUserOrigin(t, c, "public, no-cache", "Cookie")
			e := newEdge(t, c, edgeConfig{upstream: o.URL})
			var wg sync.WaitGroup
			wg.Go(func() { e.get(t, "/page", "Cookie", "u=alice") })
			waitFor(t, func() bool { return o.requests.Load() == 1 })
			var resp *http.Response
			wg.Go(func() {
				if how == "HEAD" {
					resp, _ = e.do(t, http.MethodHead, "/page", "Cookie", "u=bob")
				} else {
					resp, _ = e.get(t, "/page", "Cookie", "u=bob", "If-None-Match", `"for-u=alice"`)
				}
			})
			waitJoined(t, e, 1)
			release.open()
			wg.Wait()
			if resp.Header.Get("ETag") != `"for-u=bob"` || o.requests.Load() != 2 {
				t.Errorf("bob: %d, ETag %s, Cache-Status %q, %d origin requests; want his own response, asked of the origin",
					resp.StatusCode, resp.Header.Get("ETag"), resp.Header.Get("Cache-Status"), o.requests.Load())
			}
		})
	}
}

// A response stale as it arrives that stale-while-revalidate lets a hit
// serve ("public, max-age=0, stale-while-revalidate=60") is given to a
// request collapsed onto its fetch only when that request would let a hit
// serve it stale: one asking for freshness (min-fresh) or validation
// (no-cache) asks the origin itself, as a hit would have revalidated for
// it. Before, every waiter was given it, whatever its own directives;
// whole, as a range while the body arrived, and as a HEAD's head.
func TestCollapsedStaleWhileRevalidateByOwnDirectives(t *testing.T) {
	for _, how := range []string{"GET", "range", "HEAD"} {
		t.Run(how, func(t *testing.T) {
			c := newClock()
			o, release := perUserOrigin(t, c, "public, max-age=0, stale-while-revalidate=60", "X-User")
			e := newEdge(t, c, edgeConfig{upstream: o.URL})
			var wg sync.WaitGroup
			wg.Go(func() { e.get(t, "/page", "X-User", "alice") })
			waitFor(t, func() bool { return o.requests.Load() == 1 })
			waiters := []struct{ user, cc, want string }{
				{"bob", "min-fresh=10", "bob"},
				{"carol", "", "alice"}, // the control: a hit would serve her the stale page
				{"dave", "no-cache", "dave"},
			}
			etags := make([]string, len(waiters))
			for i, wt := range waiters {
				wg.Go(func() {
					fields := []string{"X-User", wt.user}
					if wt.cc != "" {
						fields = append(fields, "Cache-Control", wt.cc)
					}
					var resp *http.Response
					switch how {
					case "HEAD":
						resp, _ = e.do(t, http.MethodHead, "/page", fields...)
					case "range":
						resp, _ = e.get(t, "/page", append(fields, "Range", "bytes=0-9")...)
					default:
						resp, _ = e.get(t, "/page", fields...)
					}
					etags[i] = resp.Header.Get("ETag")
				})
			}
			waitJoined(t, e, len(waiters))
			release.open()
			wg.Wait()
			for i, wt := range waiters {
				if want := `"for-` + wt.want + `"`; etags[i] != want {
					t.Errorf("%s (Cache-Control %q) got ETag %s, want %s", wt.user, wt.cc, etags[i], want)
				}
			}
			if n := o.requests.Load(); n != 3 {
				t.Errorf("%d origin requests, want 3: alice's, bob's and dave's", n)
			}
		})
	}
}

// perUserOrigin answers, once release opens, with cc and a body and ETag
// made for the request's field named user ("for-alice"), long enough to be
// sent as it arrives (streamFromBytes).
func perUserOrigin(t *testing.T, c *clock, cc, user string) (*testOrigin, *gate) {
	t.Helper()
	release := newGate()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		release.wait()
		w.Header().Set("Cache-Control", cc)
		w.Header().Set("ETag", `"for-`+r.Header.Get(user)+`"`)
		_, _ = w.Write([]byte("for " + r.Header.Get(user) + strings.Repeat(".", 64<<10)))
	})
	t.Cleanup(release.open)
	return o, release
}
