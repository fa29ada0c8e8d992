package edge

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"edged/storage"
)

// A purge by tag must reach every object that named the tag. The purge API
// takes tags of up to 8 KiB, any number of them per object, and UTF-8, but
// the edge kept at most 256 tags of at most 256 printable ASCII bytes and
// stored the object without the others: a purge of the 257th tag, of a
// 300-byte tag or of "café" answered 200 with a count of 0, and the object
// went on being served as a hit. Now an object naming a tag the cache
// cannot keep is served and not stored (detail=tags), also as slices, and
// UTF-8 tags are kept.
func TestTagPurgeMissesNothing(t *testing.T) {
	var many strings.Builder
	for i := range 300 {
		fmt.Fprintf(&many, "t%d ", i)
	}
	c := newClock()
	for _, tt := range []struct {
		name, tags, purge string
		stored            bool
	}{
		{"more than 256 tags", many.String(), "t299", false},
		{"a tag over 256 bytes", strings.Repeat("x", 300) + " short", strings.Repeat("x", 300), false},
		{"a UTF-8 tag", "café short", "café", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := strings.Repeat("b", 3<<16)
			o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=600")
				w.Header().Set("ETag", `"v1"`)
				w.Header().Set("Surrogate-Key", tt.tags)
				http.ServeContent(w, r, "", time.Time{}, strings.NewReader(body))
			})
			for _, slice := range []int64{0, 1 << 16} {
				e := newEdge(t, c, edgeConfig{upstream: o.URL, slice: slice})
				resp, got := e.get(t, "/obj")
				if got != body {
					t.Fatalf("slice %d: body of %d bytes, want %d", slice, len(got), len(body))
				}
				if cs := cacheStatus(resp); tt.stored == strings.Contains(cs, "detail=tags") {
					t.Errorf("slice %d: first Cache-Status %q, stored %v", slice, cs, tt.stored)
				}
				e.store.Flush()
				if _, err := e.store.Purge(storage.Purge{Tags: []string{tt.purge}}); err != nil {
					t.Fatal(err)
				}
				resp, got = e.get(t, "/obj")
				if cs := cacheStatus(resp); strings.Contains(cs, "hit") || got != body {
					t.Errorf("slice %d: after a purge of tag %.20q: Cache-Status %q (%d bytes), want a miss", slice, tt.purge, cs, len(got))
				}
			}
		})
	}
}
