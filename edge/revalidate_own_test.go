package edge

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// The fields of a 304 that the cache never stores (RFC 9111 §4.3.4 with
// §5.2.2.7, §5.2.2.4, and edged's Set-Cookie rule, docs/security.md): the
// response to the client whose request caused the revalidation is the
// updated stored response plus them; a client collapsed onto that
// revalidation, a background refresh's and a later hit's never get them.

// notModifiedWith is an origin handler answering a revalidation of ETag
// "v1" with a 304 carrying fields (name/value pairs), once g is opened.
func notModifiedWith(t *testing.T, g *gate, fields ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if g != nil {
			g.wait()
		}
		if r.Header.Get("If-None-Match") != `"v1"` {
			t.Errorf("revalidation If-None-Match = %q, want \"v1\"", r.Header.Get("If-None-Match"))
		}
		w.Header().Set("ETag", `"v1"`)
		for i := 0; i+1 < len(fields); i += 2 {
			w.Header().Add(fields[i], fields[i+1])
		}
		w.WriteHeader(http.StatusNotModified)
	}
}

// getLaterWith is getLater with request fields (name/value pairs).
func getLaterWith(url string, fields ...string) <-chan *http.Response {
	ch := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		for i := 0; i+1 < len(fields); i += 2 {
			req.Header.Set(fields[i], fields[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			ch <- nil
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		ch <- resp
	}()
	return ch
}

// wantFields fails unless resp carries each of want (name/value pairs),
// and none of the names in absent.
func wantFields(t *testing.T, who string, resp *http.Response, want []string, absent ...string) {
	t.Helper()
	if resp == nil {
		t.Fatalf("%s: request failed", who)
	}
	for i := 0; i+1 < len(want); i += 2 {
		if got := resp.Header.Values(want[i]); len(got) != 1 || got[0] != want[i+1] {
			t.Errorf("%s: %s = %q, want %q (status %d, Cache-Status %q)", who, want[i], got, want[i+1], resp.StatusCode, resp.Header.Get("Cache-Status"))
		}
	}
	for _, name := range absent {
		if got := resp.Header.Values(name); len(got) != 0 {
			t.Errorf("%s: got %s %q (Cache-Status %q), want none", who, name, got, resp.Header.Get("Cache-Status"))
		}
	}
}

func TestRevalidated304OwnFieldsToCauser(t *testing.T) {
	own := []string{"Set-Cookie", "X-User", "X-Trace"}
	for _, tc := range []struct {
		name   string
		stored string   // the stored response's Cache-Control
		nm     []string // the 304's fields besides ETag
	}{
		// The qualified names in the stored Cache-Control, which the
		// updated response keeps: the 304 sends none.
		{"stored names", `max-age=10, private="X-User", no-cache="X-Trace"`,
			[]string{"Set-Cookie", "s=bob", "X-User", "bob", "X-Trace", "t2"}},
		// The 304's own Cache-Control names them.
		{"304 names", "max-age=10",
			[]string{"Cache-Control", `max-age=100, private="X-User", no-cache="X-Trace"`, "Set-Cookie", "s=bob", "X-User", "bob", "X-Trace", "t2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			o := newOrigin(t, c, static("body-v1", "Cache-Control", tc.stored, "ETag", `"v1"`))
			e := newEdge(t, c, edgeConfig{upstream: o.URL})
			e.get(t, "/r")
			c.Advance(20 * time.Second)
			g := newGate()
			t.Cleanup(g.open)
			o.set(notModifiedWith(t, g, tc.nm...))
			causer := getLaterWith(e.URL + "/r")
			waitFor(t, func() bool { return o.requests.Load() == 2 })
			waiter := getLaterWith(e.URL + "/r")
			waitJoined(t, e, 1)
			g.open()
			r1 := <-causer
			wantFields(t, "the client that caused the revalidation", r1, []string{"Set-Cookie", "s=bob", "X-User", "bob", "X-Trace", "t2"})
			wantStatus(t, r1, 200, "fwd=stale", "fwd-status=304")
			wantFields(t, "a client collapsed onto it", <-waiter, nil, own...)
			resp, _ := e.get(t, "/r")
			wantStatus(t, resp, 200, "hit")
			wantFields(t, "a later hit", resp, nil, own...)

			// A client's own conditional request that causes the next
			// revalidation: the cache's 304 carries them too.
			c.Advance(200 * time.Second)
			o.set(notModifiedWith(t, nil, tc.nm...))
			resp = <-getLaterWith(e.URL+"/r", "If-None-Match", `"v1"`)
			if resp == nil || resp.StatusCode != http.StatusNotModified {
				t.Fatalf("conditional request: %v, want 304", resp)
			}
			wantFields(t, "a conditional request that caused the revalidation", resp, []string{"Set-Cookie", "s=bob", "X-User", "bob", "X-Trace", "t2"})
			resp = <-getLaterWith(e.URL+"/r", "If-None-Match", `"v1"`)
			wantFields(t, "a later conditional hit", resp, nil, own...)
		})
	}
}

// A stale-while-revalidate refresh is caused by no client's need: the
// stale response goes out without the 304's cookie, and so do later hits.
func TestRevalidated304BackgroundNoCookie(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static("body-v1", "Cache-Control", "max-age=10, stale-while-revalidate=600", "ETag", `"v1"`))
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	e.get(t, "/r")
	c.Advance(20 * time.Second)
	o.set(notModifiedWith(t, nil, "Set-Cookie", "s=bob", "Cache-Control", "max-age=100"))
	resp, _ := e.get(t, "/r")
	wantFields(t, "the client served stale", resp, nil, "Set-Cookie")
	e.waitTasks(t)
	if n := o.requests.Load(); n != 2 {
		t.Fatalf("origin requests %d, want 2 (one background refresh)", n)
	}
	resp, _ = e.get(t, "/r")
	wantStatus(t, resp, 200, "hit")
	wantFields(t, "a hit after the refresh", resp, nil, "Set-Cookie")
}

// The same on a cache.slice route: the 304 that refreshes the slice
// heading a response gives its fields to the client whose request caused
// it, and to no other.
func TestSliceRevalidated304OwnFieldsToCauser(t *testing.T) {
	c := newClock()
	body := patterned(2*sliceSize, 5)
	o := newRangeOrigin(t, c, body, `"v1"`)
	o.cc = `max-age=10, private="X-User"`
	e := newSliceEdge(t, c, o.URL, sliceSize, 0)
	rng := fmt.Sprintf("bytes=%d-%d", 10, 99)
	if resp, _, err := getRange(t, e, http.MethodGet, "/movie", rng); err != nil || resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("first fetch: %v %v", resp, err)
	}
	e.store.Flush()
	c.Advance(20 * time.Second)
	g := newGate()
	t.Cleanup(g.open)
	o.mu.Lock()
	// http.ServeContent answers the revalidation with a 304 carrying them.
	o.extra = []string{"Set-Cookie", "s=bob", "X-User", "bob"}
	o.gate = g
	o.mu.Unlock()
	causer := getLaterWith(e.URL+"/movie", "Range", rng)
	waitFor(t, func() bool { return o.requests.Load() == 2 })
	waiter := getLaterWith(e.URL+"/movie", "Range", rng)
	waitJoined(t, e, 1)
	g.open()
	r1 := <-causer
	wantFields(t, "the client that caused the revalidation", r1, []string{"Set-Cookie", "s=bob", "X-User", "bob"})
	if r1.StatusCode != http.StatusPartialContent {
		t.Errorf("causer status %d, want 206", r1.StatusCode)
	}
	if n := o.requests.Load(); n != 2 {
		t.Errorf("origin requests %d, want 2 (one revalidation)", n)
	}
	wantFields(t, "a client collapsed onto it", <-waiter, nil, "Set-Cookie", "X-User")
	e.store.Flush()
	resp := <-getLaterWith(e.URL+"/movie", "Range", rng)
	if resp == nil || !isHit(resp) {
		t.Fatalf("later request: %v, want a hit", resp)
	}
	wantFields(t, "a later hit", resp, nil, "Set-Cookie", "X-User")
}
