package edge

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCollapsedNotGivenWhatNeedsValidation on a route with cache.slice:
// a slice fetched for one request that needs validation before it answers
// another (no-cache, stale as it arrived) is not given to the requests
// waiting on its fetch; each fetches its own. Before, they were sent the
// leader's slice (Alice's page to Bob), whole or as a range.
func TestSliceCollapsedNotGivenWhatNeedsValidation(t *testing.T) {
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
					w.Header().Set("Cache-Control", tc.cc)
					w.Header().Set("ETag", `"v1-`+r.Header.Get("Cookie")+`"`)
					http.ServeContent(w, r, "", time.Time{}, strings.NewReader("for "+r.Header.Get("Cookie")+strings.Repeat(".", 60<<10))) // one slice
				})
				t.Cleanup(release.open)
				e := newEdge(t, c, edgeConfig{upstream: o.URL, slice: 64 << 10})
				var wg sync.WaitGroup
				bodies := make([]string, 3)
				for i, user := range []string{"u=alice", "u=bob", "u=carol"} {
					if i == 1 {
						// alice leads: her fetch reached the origin.
						waitFor(t, func() bool { return o.requests.Load() == 1 })
					}
					wg.Go(func() {
						fields := []string{"Cookie", user}
						if rangeReq && i > 0 {
							fields = append(fields, "Range", "bytes=0-9")
						}
						_, body := e.get(t, "/page", fields...)
						bodies[i] = body
					})
				}
				waitJoined(t, e, 2)
				release.open()
				wg.Wait()
				for i, user := range []string{"u=alice", "u=bob", "u=carol"} {
					want := "for " + user
					if tc.shared {
						want = "for u=alice"
					}
					if !strings.HasPrefix(bodies[i], want) && !strings.HasPrefix(want, bodies[i]) {
						t.Errorf("%s got %.20q, want %q", user, bodies[i], want)
					}
				}
			})
		}
	}
}
