package edge

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// answered is a request's response, its body read whole (none for a 304
// or a HEAD).
type answered struct {
	resp *http.Response
	body []byte
	err  error
}

// startDo sends method path with fields to e, and returns where its
// response will come.
func startDo(e *testEdge, method, path string, fields ...string) <-chan answered {
	out := make(chan answered, 1)
	go func() {
		req, _ := http.NewRequest(method, e.URL+path, nil)
		for i := 0; i+1 < len(fields); i += 2 {
			req.Header.Set(fields[i], fields[i+1])
		}
		resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
		if err != nil {
			out <- answered{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		out <- answered{resp: resp, body: body, err: err}
	}()
	return out
}

// whileHeld waits for a response that must come while the origin holds
// the rest of the body.
func whileHeld(t testing.TB, ch <-chan answered, who string) answered {
	t.Helper()
	select {
	case a := <-ch:
		if a.err != nil {
			t.Fatalf("%s: %v", who, a.err)
		}
		return a
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no answer while the origin held the rest of the body: it waited for the whole body", who)
		return answered{}
	}
}

const (
	fillETag = `"v1"`
	fillLM   = "Sat, 01 Jan 2000 00:00:00 GMT"
)

// checkBodiless checks a 304, 412 or HEAD answered from a fill's head;
// size is the body's length, -1 when the origin did not say (chunked): a
// HEAD then has no Content-Length.
func checkBodiless(t testing.TB, a answered, status int, size int) {
	t.Helper()
	wantStatus(t, a.resp, status, "fwd=uri-miss")
	if len(a.body) != 0 {
		t.Errorf("status %d with a %d-byte body", status, len(a.body))
	}
	if cs := a.resp.Header.Get("Cache-Status"); strings.Contains(cs, "stored") {
		t.Errorf("Cache-Status %q: answered before the body is whole, it cannot know it is stored", cs)
	}
	switch status {
	case http.StatusNotModified:
		// RFC 9110 §15.4.5: the fields a 200 would have carried that
		// describe the response, not its content.
		if got := a.resp.Header.Get("ETag"); got != fillETag {
			t.Errorf("304 ETag %q, want %s", got, fillETag)
		}
		if got := a.resp.Header.Get("Cache-Control"); got == "" {
			t.Error("304 without the response's Cache-Control")
		}
		for _, f := range []string{"Content-Type", "Content-Length"} {
			if got := a.resp.Header.Get(f); got != "" {
				t.Errorf("304 with %s %q", f, got)
			}
		}
	case http.StatusOK: // HEAD
		want := strconv.Itoa(size)
		if size < 0 {
			want = ""
		}
		if got := a.resp.Header.Get("Content-Length"); got != want {
			t.Errorf("HEAD Content-Length %q, want %q", got, want)
		}
		if got := a.resp.Header.Get("ETag"); got != fillETag {
			t.Errorf("HEAD ETag %q, want %s", got, fillETag)
		}
	}
}

// A conditional GET or a HEAD that misses is answered from the head the
// fill publishes, while the origin still holds the body: a 304 when the
// conditions match it, a 412 when If-Match fails, the 200's head for a
// HEAD, the body as it arrives when they do not match. The fill goes on
// and stores the whole body. Before, each waited for the whole body.
func TestConditionalMissAnsweredFromHead(t *testing.T) {
	body := testBody(1 << 20)
	for _, tt := range []struct {
		name     string
		method   string
		fields   []string
		status   int
		streamed bool
	}{
		{"If-None-Match matches", http.MethodGet, []string{"If-None-Match", `"v0", ` + fillETag}, http.StatusNotModified, false},
		{"If-Modified-Since matches", http.MethodGet, []string{"If-Modified-Since", fillLM}, http.StatusNotModified, false},
		{"If-Match fails", http.MethodGet, []string{"If-Match", `"v0"`}, http.StatusPreconditionFailed, false},
		{"HEAD", http.MethodHead, nil, http.StatusOK, false},
		{"conditional HEAD", http.MethodHead, []string{"If-None-Match", fillETag}, http.StatusNotModified, false},
		{"If-None-Match differs", http.MethodGet, []string{"If-None-Match", `"v0"`}, http.StatusOK, true},
		{"If-Modified-Since earlier", http.MethodGet, []string{"If-Modified-Since", "Fri, 31 Dec 1999 00:00:00 GMT"}, http.StatusOK, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			o := newPieceOrigin(t, c, body, 100_000, "ETag", fillETag, "Last-Modified", fillLM)
			e := newEdge(t, c, edgeConfig{upstream: o.URL})
			if tt.streamed {
				g := startGet(e, "/big", 100_000, tt.fields...)
				g.firstBytes(t, tt.name)
				o.rest.open()
				out := <-g.done
				if out.err != nil || !bytes.Equal(out.body, body) {
					t.Fatalf("body: %d bytes, err %v; want the origin's %d bytes", len(out.body), out.err, len(body))
				}
				wantStatus(t, out.resp, tt.status, "fwd=uri-miss")
			} else {
				a := whileHeld(t, startDo(e, tt.method, "/big", tt.fields...), tt.name)
				checkBodiless(t, a, tt.status, len(body))
				o.rest.open()
			}
			wantStoredOnce(t, e, o.testOrigin, "/big", body)
		})
	}
}

// Requests that join a fill another request leads are answered from its
// head too: a matching conditional GET with a 304, a HEAD with the 200's
// head, while the leader is still being sent the body.
func TestConditionalWaiterAnsweredFromHead(t *testing.T) {
	c := newClock()
	body := testBody(1 << 20)
	o := newPieceOrigin(t, c, body, 100_000, "ETag", fillETag, "Last-Modified", fillLM)
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	leader := startGet(e, "/big", 100_000)
	leader.firstBytes(t, "leader")
	a := whileHeld(t, startDo(e, http.MethodGet, "/big", "If-None-Match", fillETag), "conditional waiter")
	checkBodiless(t, a, http.StatusNotModified, len(body))
	wantStatus(t, a.resp, http.StatusNotModified, "collapsed")
	a = whileHeld(t, startDo(e, http.MethodHead, "/big"), "HEAD waiter")
	checkBodiless(t, a, http.StatusOK, len(body))
	o.rest.open()
	if out := <-leader.done; out.err != nil || !bytes.Equal(out.body, body) {
		t.Fatalf("leader: %d bytes, err %v", len(out.body), out.err)
	}
	wantStoredOnce(t, e, o.testOrigin, "/big", body)
}

// A fill whose body breaks after a 304 (or a HEAD) was answered from its
// head stores nothing, and the next request fetches the object again.
func TestConditionalMissFillFailsAfter304(t *testing.T) {
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		t.Run(method, func(t *testing.T) {
			c := newClock()
			body := testBody(256 << 10)
			o := newPieceOrigin(t, c, body, 10_000, "ETag", fillETag)
			o.broken.Store(true)
			e := newEdge(t, c, edgeConfig{upstream: o.URL})
			a := whileHeld(t, startDo(e, method, "/broken", "If-None-Match", fillETag), method)
			checkBodiless(t, a, http.StatusNotModified, len(body))
			o.rest.open()
			wantBrokenFillForgotten(t, e, o, "/broken", body)
		})
	}
}

// A HEAD or a conditional GET that misses on a body shorter than
// streamFromBytes, or of unknown length (chunked), is answered from the
// fill's head too, while the origin holds the rest: a 304 when the
// conditions match, a 412 when If-Match fails, the 200's head for a HEAD
// (without Content-Length when the origin sent none). None says stored:
// the store has not happened yet. The fill goes on and stores the whole
// body. Before, each waited for the whole body.
func TestBodilessMissAnsweredFromHead(t *testing.T) {
	for _, origin := range []struct {
		name    string
		size    int
		chunked bool
	}{
		{"short", streamFromBytes - 1, false},
		{"chunked", 256 << 10, true},
	} {
		body := testBody(origin.size)
		for _, tt := range []struct {
			name   string
			method string
			fields []string
			status int
		}{
			{"If-None-Match matches", http.MethodGet, []string{"If-None-Match", fillETag}, http.StatusNotModified},
			{"If-Modified-Since matches", http.MethodGet, []string{"If-Modified-Since", fillLM}, http.StatusNotModified},
			{"If-Match fails", http.MethodGet, []string{"If-Match", `"v0"`}, http.StatusPreconditionFailed},
			{"HEAD", http.MethodHead, nil, http.StatusOK},
			{"conditional HEAD", http.MethodHead, []string{"If-None-Match", fillETag}, http.StatusNotModified},
		} {
			t.Run(origin.name+"/"+tt.name, func(t *testing.T) {
				c := newClock()
				o := newPieceOrigin(t, c, body, 1000, "ETag", fillETag, "Last-Modified", fillLM)
				o.chunked.Store(origin.chunked)
				e := newEdge(t, c, edgeConfig{upstream: o.URL})
				a := whileHeld(t, startDo(e, tt.method, "/obj", tt.fields...), tt.name)
				size := len(body)
				if origin.chunked {
					size = -1
				}
				checkBodiless(t, a, tt.status, size)
				// RFC 9211 §2.5: a known length is given the freshness the
				// cache means to store it with; an unknown one may yet
				// outgrow the fill.
				if ttl := strings.Contains(a.resp.Header.Get("Cache-Status"), "ttl="); ttl == origin.chunked {
					t.Errorf("Cache-Status %q: want ttl only for a body of known length", a.resp.Header.Get("Cache-Status"))
				}
				o.rest.open()
				wantStoredOnce(t, e, o.testOrigin, "/obj", body)
			})
		}
	}
}

// A HEAD answered from the head of a short body does not lift the fill's
// fetch_timeout (nobody is sent the body, nor waits for it): a body held
// past it is cut and nothing is stored, as for a longer one. Before, the
// HEAD waited for the whole body, and lifted the bound while it did.
func TestShortHeadMissKeepsFetchTimeout(t *testing.T) {
	c := newClock()
	body := testBody(streamFromBytes - 1)
	o := newPieceOrigin(t, c, body, 1000, "ETag", fillETag)
	// body_timeout well past fetch_timeout: only fetch_timeout can end
	// the fill while the origin holds the rest.
	e := newTimedEdge(t, c, o.URL, time.Minute, 500*time.Millisecond)
	a := whileHeld(t, startDo(e, http.MethodHead, "/short"), "HEAD")
	checkBodiless(t, a, http.StatusOK, len(body))
	e.settle(t) // the flight ends at fetch_timeout, the rest still held
	assertNothingStored(t, e.store)
	o.rest.open()
}

// The leader of a chunked fill, answered from its head (a HEAD), does not
// hold the rest of a body that outgrows the fill for leaderWait: the
// upstream's connection is closed as soon as the fill ends, and the
// origin's writes fail. A waiter that joined, a HEAD too, is answered
// from the head as well (it needs no body).
func TestHeadLeaderRenouncesBodyTooLarge(t *testing.T) {
	c := newClock()
	rest := newGate()
	stopped := make(chan struct{})
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=600")
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("ETag", fillETag)
		chunk := testBody(16 << 10)
		_, _ = w.Write(chunk) // no Content-Length: chunked
		w.(http.Flusher).Flush()
		rest.wait()
		// Far more than loopback's buffers hold: the writes block until
		// the edge reads, and fail once it closes.
		for range 1 << 14 {
			if _, err := w.Write(chunk); err != nil {
				close(stopped)
				return
			}
		}
	})
	t.Cleanup(rest.open)
	e := newEdge(t, c, edgeConfig{upstream: o.URL, maxObject: 128 << 10})
	a := whileHeld(t, startDo(e, http.MethodHead, "/large"), "HEAD leader")
	checkBodiless(t, a, http.StatusOK, -1)
	a = whileHeld(t, startDo(e, http.MethodHead, "/large"), "HEAD waiter")
	checkBodiless(t, a, http.StatusOK, -1)
	rest.open()
	select {
	case <-stopped:
	case <-time.After(leaderWait / 2):
		t.Fatalf("the origin still sends %v after the fill outgrew max_object: the rest is held for a leader that was answered", leaderWait/2)
	}
	e.waitTasks(t)
	if n := o.requests.Load(); n != 1 {
		t.Errorf("origin requests = %d, want 1 (the waiter joined the leader's fetch)", n)
	}
}
