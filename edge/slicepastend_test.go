package edge

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"testing"
)

// A range that starts past the end of a sliced object whose slice 0 is
// stored is answered 416 from slice 0's length (RFC 9110 §15.5.17), as the
// upstream would: it used to cost an upstream request for the slice the
// offset would fall in, each time.
func TestSliceRangePastEndAnsweredFromSliceZero(t *testing.T) {
	c := newClock()
	body := patterned(2*sliceSize+100, 4)
	o := newRangeOrigin(t, c, body, `"v1"`)
	e := newSliceEdge(t, c, o.URL, sliceSize, 0)
	if resp, got, err := getRange(t, e, http.MethodGet, "/f", "bytes=0-0"); err != nil || !bytes.Equal(got, body[:1]) {
		t.Fatalf("storing slice 0: %d, err %v", resp.StatusCode, err)
	}
	e.settle(t)
	before := o.requests.Load()
	for _, start := range []int{len(body), 3 * sliceSize, 40 * sliceSize} {
		resp, _, err := getRange(t, e, http.MethodGet, "/f", fmt.Sprintf("bytes=%d-", start))
		if err != nil || resp.StatusCode != http.StatusRequestedRangeNotSatisfiable || resp.Header.Get("Content-Range") != "bytes */"+strconv.Itoa(len(body)) {
			t.Errorf("bytes=%d-: %d %q, err %v; want 416 with bytes */%d", start, resp.StatusCode, resp.Header.Get("Content-Range"), err, len(body))
		}
	}
	if n := o.requests.Load() - before; n != 0 {
		t.Errorf("ranges past the end asked the upstream %d times, want none", n)
	}
	// The last byte is still served.
	if resp, got, err := getRange(t, e, http.MethodGet, "/f", fmt.Sprintf("bytes=%d-", len(body)-1)); err != nil || resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, body[len(body)-1:]) {
		t.Errorf("the last byte: %d, err %v", resp.StatusCode, err)
	}
}
