package edge

import (
	"net/http"
	"testing"
)

// TestMaxForwardsOptions is RFC 9110 §7.6.2 through a real edge and
// origin: an OPTIONS with Max-Forwards: 0 is answered by the node as the
// final recipient and never reaches the origin (it did, with the 0 intact,
// before the node read the field); a larger value reaches it less one; a
// value that is not digits passes unchanged.
func TestMaxForwardsOptions(t *testing.T) {
	c := newClock()
	o := echoOrigin(t, c)
	e := newEdge(t, c, edgeConfig{upstream: o.URL})

	resp, body := e.do(t, http.MethodOptions, "/mf", "Max-Forwards", "0")
	if resp.StatusCode != http.StatusOK || body != "" {
		t.Fatalf("Max-Forwards: 0: status %d body %q, want 200 and no body", resp.StatusCode, body)
	}
	if n := o.requests.Load(); n != 0 {
		t.Fatalf("Max-Forwards: 0 reached the origin (%d requests)", n)
	}
	if got := resp.Header.Get("Allow"); got == "" {
		t.Error("Max-Forwards: 0: no Allow field")
	}
	if cs := cacheStatus(resp); cs != "edged; detail=max-forwards" {
		t.Errorf("Cache-Status %q", cs)
	}

	for _, tt := range []struct{ sent, want string }{
		{"3", "2"}, {"1", "0"}, {"007", "6"}, {"x", "x"},
	} {
		resp, _ = e.do(t, http.MethodOptions, "/mf", "Max-Forwards", tt.sent)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("Max-Forwards: %s: status %d", tt.sent, resp.StatusCode)
		}
		if got := o.last(t).Header.Get("Max-Forwards"); got != tt.want {
			t.Errorf("Max-Forwards: %s reached the origin as %q, want %q", tt.sent, got, tt.want)
		}
	}
	// Other methods are not this rule's (RFC 9110 §7.6.2 names TRACE and
	// OPTIONS only): a GET goes to the origin with its field as sent.
	resp, _ = e.do(t, http.MethodGet, "/mf-get", "Max-Forwards", "0")
	if resp.StatusCode != http.StatusOK || o.last(t).Header.Get("Max-Forwards") != "0" {
		t.Errorf("GET with Max-Forwards: 0: status %d, origin got %q", resp.StatusCode, o.last(t).Header.Get("Max-Forwards"))
	}
}
