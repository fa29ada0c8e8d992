package edge

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
)

// RFC 9111 §5.2.1.7: only-if-cached gets a stored response or 504. On a
// sliced route whose object is stored only in part, a request needing a
// slice that is not stored used to get the stored slices' 200 or 206 head,
// then a response cut where the missing slice began (or, for several
// ranges, the connection closed with no answer at all).
func TestSliceOnlyIfCachedPartlyStored(t *testing.T) {
	c := newClock()
	body := patterned(3*sliceSize, 4)
	o := newRangeOrigin(t, c, body, `"v1"`)
	e := newSliceEdge(t, c, o.URL, sliceSize, 0)
	if resp, got, err := getRange(t, e, http.MethodGet, "/f", "bytes=0-0"); err != nil || !bytes.Equal(got, body[:1]) {
		t.Fatalf("storing slice 0: %d, err %v", resp.StatusCode, err)
	}
	e.settle(t)
	before := o.requests.Load()
	for _, rng := range []string{"", fmt.Sprintf("bytes=0-9,%d-%d", 2*sliceSize, 2*sliceSize+9), fmt.Sprintf("bytes=10-%d", sliceSize+9)} {
		resp, _, err := getRange(t, e, http.MethodGet, "/f", rng, "Cache-Control", "only-if-cached")
		if err != nil || resp.StatusCode != http.StatusGatewayTimeout {
			t.Errorf("only-if-cached, Range %q, slice 0 alone stored: %d, err %v; want 504", rng, resp.StatusCode, err)
		}
	}
	// What is stored is served.
	if resp, got, err := getRange(t, e, http.MethodGet, "/f", "bytes=5-9", "Cache-Control", "only-if-cached"); err != nil ||
		resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, body[5:10]) {
		t.Errorf("only-if-cached of stored bytes: %d, err %v; want 206", resp.StatusCode, err)
	}
	if n := o.requests.Load() - before; n != 0 {
		t.Errorf("only-if-cached requests asked the upstream %d times, want none", n)
	}
}
