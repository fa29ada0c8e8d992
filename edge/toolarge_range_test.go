package edge

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// A range of an object too large to store (past MaxObjectBytes) used to
// cost a whole fill each time: the origin sent the whole object and the
// client got it whole, 200 for a ten-byte range (a video player seeking in
// a large file fetched all of it per seek). Once a fill has found the
// object too large, its ranges go upstream as asked, and a stored version
// ends that.
func TestRangeOfTooLargeObjectGoesUpstream(t *testing.T) {
	c := newClock()
	const size = 256 << 10
	body := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	o := newRangeOrigin(t, c, body, `"v1"`)
	e := newEdge(t, c, edgeConfig{upstream: o.URL, maxObject: 64 << 10})
	if resp, got := e.get(t, "/big"); resp.StatusCode != http.StatusOK || len(got) != size {
		t.Fatalf("GET /big: %d, %d bytes", resp.StatusCode, len(got))
	}
	e.settle(t)
	resp, got := e.get(t, "/big", "Range", "bytes=100-109")
	if resp.StatusCode != http.StatusPartialContent || got != string(body[100:110]) {
		t.Fatalf("range of a too-large object: %d, %d bytes %q; want 206 with bytes 100-109", resp.StatusCode, len(got), got[:min(len(got), 20)])
	}
	if r := o.last(t); r.Header.Get("Range") != "bytes=100-109" {
		t.Errorf("the origin was asked Range %q, want the client's", r.Header.Get("Range"))
	}
	if cs := cacheStatus(resp); !strings.Contains(cs, "fwd=bypass") || !strings.Contains(cs, "detail=too-large") {
		t.Errorf("Cache-Status = %q, want fwd=bypass; detail=too-large", cs)
	}
	// A request without a range still fills, so a smaller version is
	// stored, and ranges are served from it again.
	o.change(body[:1000], `"v2"`)
	if resp, got := e.get(t, "/big"); resp.StatusCode != http.StatusOK || len(got) != 1000 {
		t.Fatalf("GET /big after it shrank: %d, %d bytes", resp.StatusCode, len(got))
	}
	e.settle(t)
	before := o.requests.Load()
	if resp, got := e.get(t, "/big", "Range", "bytes=0-3"); resp.StatusCode != http.StatusPartialContent || got != "0123" || !isHit(resp) {
		t.Errorf("range once stored: %d %q, Cache-Status %q; want a 206 hit", resp.StatusCode, got, cacheStatus(resp))
	}
	if o.requests.Load() != before {
		t.Error("a range of the stored object went upstream")
	}
}
