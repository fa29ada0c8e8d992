package edge

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestRangeEdgeCases: Range requests on a stored 5,000-byte object over
// loopback, for each edge of RFC 9110 §14: a suffix-length of 0 and a
// first-pos at or past the length are unsatisfiable (416 with
// "Content-Range: bytes */5000", §15.5.17), an invalid or foreign-unit
// Range is ignored (the whole 200, §14.2), overflowing positions are valid
// digits, and unsatisfiable members of a set are left out of the 206.
func TestRangeEdgeCases(t *testing.T) {
	c := newClock()
	body := strings.Repeat("0123456789", 500)
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = io.WriteString(w, body)
	})
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	if resp, got := e.get(t, "/obj"); resp.StatusCode != http.StatusOK || got != body {
		t.Fatalf("fill: status %d, %d bytes", resp.StatusCode, len(got))
	}
	e.store.Flush()
	for _, tt := range []struct {
		rng          string
		status       int
		contentRange string // for a single-part 206 or a 416
		body         string // for a single-part 206
	}{
		{"bytes=-0", http.StatusRequestedRangeNotSatisfiable, "bytes */5000", ""},
		{"bytes=5000-", http.StatusRequestedRangeNotSatisfiable, "bytes */5000", ""},
		{"bytes=5000-5001", http.StatusRequestedRangeNotSatisfiable, "bytes */5000", ""},
		{"bytes=99999999999999999999-", http.StatusRequestedRangeNotSatisfiable, "bytes */5000", ""},
		{"bytes=-0, 6000-", http.StatusRequestedRangeNotSatisfiable, "bytes */5000", ""},
		{"bytes=-0,0-1", http.StatusPartialContent, "bytes 0-1/5000", "01"},
		{"bytes=0-1,9000-", http.StatusPartialContent, "bytes 0-1/5000", "01"},
		{"bytes=4998-99999999999999999999", http.StatusPartialContent, "bytes 4998-4999/5000", "89"},
		{"bytes=-99999999999999999999", http.StatusPartialContent, "bytes 0-4999/5000", body},
		{"bytes=-3", http.StatusPartialContent, "bytes 4997-4999/5000", "789"},
		{"BYTES=10-12", http.StatusPartialContent, "bytes 10-12/5000", "012"},
		{"bytes=5-2", http.StatusOK, "", body},
		{"bytes=0-1,5-2", http.StatusOK, "", body},
		{"bytes=abc", http.StatusOK, "", body},
		{"bytes=", http.StatusOK, "", body},
		{"items=0-1", http.StatusOK, "", body},
		{"bytes=" + strings.Repeat("0-0,", maxRanges) + "0-0", http.StatusOK, "", body},
	} {
		resp, got := e.get(t, "/obj", "Range", tt.rng)
		if resp.StatusCode != tt.status {
			t.Errorf("Range %q: status %d, want %d", tt.rng, resp.StatusCode, tt.status)
			continue
		}
		if cr := resp.Header.Get("Content-Range"); cr != tt.contentRange {
			t.Errorf("Range %q: Content-Range %q, want %q", tt.rng, cr, tt.contentRange)
		}
		if tt.status != http.StatusRequestedRangeNotSatisfiable && got != tt.body {
			t.Errorf("Range %q: body %q (%d bytes), want %d bytes", tt.rng, got[:min(len(got), 20)], len(got), len(tt.body))
		}
	}
	// Two satisfiable ranges: a multipart 206 of those two only.
	resp, got := e.get(t, "/obj", "Range", "bytes=0-1,-0,10-11")
	if resp.StatusCode != http.StatusPartialContent || !strings.HasPrefix(resp.Header.Get("Content-Type"), "multipart/byteranges") ||
		strings.Count(got, "Content-Range:") != 2 || !strings.Contains(got, "bytes 10-11/5000") {
		t.Errorf("multipart: status %d, type %q, body %q", resp.StatusCode, resp.Header.Get("Content-Type"), got)
	}
	if n := o.requests.Load(); n != 1 {
		t.Errorf("origin requests = %d, want 1", n)
	}
}
