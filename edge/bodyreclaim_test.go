package edge

import (
	"bytes"
	"io"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
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
		for i, path := range []string{"/private/a", "/b"} {
			resp, body := e.get(t, path)
			if resp.StatusCode != http.StatusOK || body != wantBody {
				t.Fatalf("GET %s: %d, %d bytes; want 200 with the whole body", path, resp.StatusCode, len(body))
			}
			// Streamed as it arrived: the head says ttl (never stored,
			// which it cannot know yet) unless the fill was refused.
			if cs := cacheStatus(resp); i == 1 && (!strings.Contains(cs, "ttl=") || strings.Contains(cs, "detail=")) {
				t.Fatalf("GET %s after a fill that left only garbage in the budget: Cache-Status %q, want it stored (a ttl, no detail)", path, cs)
			}
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

// A slice fetch the body budget refuses (the budget held by other fills
// under way) passes the request to the upstream with its own Range,
// streamed and not stored, as a whole fill past the budget is streamed:
// it used to be answered 503, so that one client's concurrent cold slices,
// a byte each, made every other client of a sliced route get 503.
func TestSliceOverBudgetPassedThrough(t *testing.T) {
	const size = 768 << 10 // one slice: two do not fit in the 1 MiB budget
	c := newClock()
	body := patterned(2*size, 2)
	gate, started := newGate(), make(chan struct{})
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Etag", `"v1"`)
		if r.URL.Path == "/held" {
			// The slice's head, then half its bytes, then a wait: its
			// fetch holds its share of the budget meanwhile.
			w.Header().Set("Content-Range", "bytes 0-"+strconv.Itoa(size-1)+"/"+strconv.Itoa(len(body)))
			writeHeld(w, size, started, gate)
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	})
	e := newEdge(t, c, edgeConfig{upstream: o.URL, bodyMemory: 1 << 20, slice: size, memory: 64 << 20})
	defer gate.open() // before the edge's cleanup waits for the held fetch
	held := make(chan error, 1)
	go func() {
		resp, err := http.Get(e.URL + "/held")
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		held <- err
	}()
	<-started
	waitFor(t, func() bool { return e.handler.bodies.used.Load() >= size })

	resp, got, err := getRange(t, e, http.MethodGet, "/other", "bytes=1000-1999")
	if err != nil || resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, body[1000:2000]) {
		t.Fatalf("range of a cold slice past the budget: %d (%s), %d bytes, err %v; want 206 with bytes 1000-1999",
			resp.StatusCode, cacheStatus(resp), len(got), err)
	}
	if cs := cacheStatus(resp); !strings.Contains(cs, "fwd=bypass") || !strings.Contains(cs, "detail=memory-budget") {
		t.Errorf("Cache-Status %q, want fwd=bypass with detail=memory-budget", cs)
	}
	if rng := o.last(t).Header.Get("Range"); rng != "bytes=1000-1999" {
		t.Errorf("upstream asked for Range %q, want the client's bytes=1000-1999", rng)
	}
	gate.open()
	if err := <-held; err != nil {
		t.Fatalf("GET /held: %v", err)
	}
}
