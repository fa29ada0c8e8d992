package edge

import (
	"bytes"
	"net/http"
	"runtime/debug"
	"strings"
	"testing"
)

// A fill's body that no cache tier keeps stays in the body budget until it
// is garbage (releaseWhenUnreachable). Once its client has it all, the
// next fill that needs those bytes gets them at once: the budget collects
// them itself, rather than waiting for the runtime to collect when it
// happens to (on a quiet node, up to two minutes later). Before, that next
// fill was passed through unstored and a sliced route answered 503.
//
// Automatic collection is off for the test, as it is in effect on a node
// that allocates little: the old code then fails every time.
func TestBodyBudgetReclaimsGarbage(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	const size = 768 << 10 // two do not fit in the 1 MiB budget
	c := newClock()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		cc := "max-age=60"
		if strings.HasPrefix(r.URL.Path, "/private") {
			cc = "private" // not stored: the body is sent, then garbage
		}
		w.Header().Set("Cache-Control", cc)
		w.Header().Set("Etag", `"v1"`)
		http.ServeContent(w, r, "", c.Now(), bytes.NewReader(patterned(size, 1)))
	})
	wantBody := string(patterned(size, 1))

	t.Run("fill", func(t *testing.T) {
		e := newEdge(t, c, edgeConfig{upstream: o.URL, bodyMemory: 1 << 20})
		for i, path := range []string{"/private/a", "/b", "/private/c", "/d"} {
			resp, body := e.get(t, path)
			if resp.StatusCode != http.StatusOK || body != wantBody {
				t.Fatalf("GET %s: %d, %d bytes; want 200 with the whole body", path, resp.StatusCode, len(body))
			}
			if cs := cacheStatus(resp); i%2 == 1 && !strings.Contains(cs, "stored") {
				t.Fatalf("GET %s after a fill that left only garbage in the budget: Cache-Status %q, want stored", path, cs)
			}
			e.settle(t) // /b's disk write done: its body is garbage too
		}
	})
	t.Run("slice", func(t *testing.T) {
		e := newEdge(t, c, edgeConfig{upstream: o.URL, bodyMemory: 1 << 20, slice: size, memory: 64 << 20})
		for _, path := range []string{"/private/a", "/b"} {
			resp, body := e.get(t, path)
			if resp.StatusCode != http.StatusOK || body != wantBody {
				t.Fatalf("GET %s: %d (%s), %d bytes; want 200 with the whole body", path, resp.StatusCode, cacheStatus(resp), len(body))
			}
		}
	})
}
