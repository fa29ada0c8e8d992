package edge

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"edged/storage"
)

// A 304 that refreshes a stored response updates its stored fields (RFC
// 9111 §4.3.4), its purge tags among them: a Surrogate-Key or Cache-Tag in
// the 304 replaces the stored one, so a purge of a new tag reaches the
// refreshed object, whole or in slices. The old code kept the tags the
// object was first stored with, and a purge of the new tag missed it.
func TestTagsFollowA304(t *testing.T) {
	c := newClock()
	body := strings.Repeat("b", 3<<16)
	for _, tt := range []struct {
		field, first, refreshed string
	}{
		{"Surrogate-Key", "old", "new other"},
		{"Cache-Tag", "old", "new, other"},
	} {
		for _, v := range []struct {
			slice int64
			cc    string
		}{{0, "max-age=10"}, {1 << 16, "max-age=10"}, {0, "max-age=10, stale-while-revalidate=60"}, {1 << 16, "max-age=10, stale-while-revalidate=60"}} {
			slice := v.slice
			var refreshed atomic.Bool
			var fetches, notModified atomic.Int32
			o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", v.cc)
				w.Header().Set("ETag", `"v1"`)
				if refreshed.Load() {
					w.Header().Set(tt.field, tt.refreshed)
				} else {
					w.Header().Set(tt.field, tt.first)
				}
				if r.Header.Get("If-None-Match") == `"v1"` {
					notModified.Add(1)
					w.WriteHeader(http.StatusNotModified)
					return
				}
				fetches.Add(1)
				http.ServeContent(w, r, "", time.Time{}, strings.NewReader(body))
			})
			e := newEdge(t, c, edgeConfig{upstream: o.URL, slice: slice})
			if _, got := e.get(t, "/obj"); got != body {
				t.Fatalf("%s slice %d: first body of %d bytes", tt.field, slice, len(got))
			}
			c.Advance(20 * time.Second)
			refreshed.Store(true)
			// Refreshed at once, or in the background (stale-while-revalidate).
			resp, got := e.get(t, "/obj")
			e.settle(t)
			e.waitTasks(t)
			if got != body || notModified.Load() == 0 {
				t.Fatalf("%s slice %d %s: refresh: Cache-Status %q, %d bytes, %d 304s", tt.field, slice, v.cc, cacheStatus(resp), len(got), notModified.Load())
			}
			if resp, _ := e.get(t, "/obj"); !isHit(resp) {
				t.Fatalf("%s slice %d %s: after the 304: Cache-Status %q, want a hit", tt.field, slice, v.cc, cacheStatus(resp))
			}
			e.store.Flush()
			before := fetches.Load()
			if _, err := e.store.Purge(storage.Purge{Tags: []string{"new"}}); err != nil {
				t.Fatal(err)
			}
			resp, got = e.get(t, "/obj")
			if isHit(resp) || got != body || fetches.Load() == before {
				t.Errorf("%s slice %d %s: after a purge of the tag the 304 named: Cache-Status %q, want a miss", tt.field, slice, v.cc, cacheStatus(resp))
			}
		}
	}
}
