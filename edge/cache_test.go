package edge

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"edged/origin"
	"edged/storage"
)

// RFC 9111 §3, §4: a storable response is stored and reused while fresh.
func TestMissThenHit(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static("hello", "Cache-Control", "max-age=60", "Content-Type", "text/plain"))
	e := newEdge(t, c, edgeConfig{upstream: o.URL})

	resp, body := e.get(t, "/a")
	wantStatus(t, resp, 200, "fwd=uri-miss", "stored", "fwd-status=200")
	if body != "hello" {
		t.Fatalf("body = %q", body)
	}
	c.Advance(10 * time.Second)
	resp, body = e.get(t, "/a")
	wantStatus(t, resp, 200, "hit", "ttl=50")
	if body != "hello" || o.requests.Load() != 1 {
		t.Fatalf("body %q, origin requests %d; want hello and 1", body, o.requests.Load())
	}
	// RFC 9111 §5.1: a response from the cache carries Age.
	if got := resp.Header.Get("Age"); got != "10" {
		t.Errorf("Age = %q, want 10", got)
	}
	if resp.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("Content-Type = %q", resp.Header.Get("Content-Type"))
	}
}

// RFC 9110 §9.3.2, RFC 9111 §4: HEAD is answered from a stored GET, and a
// HEAD miss is filled with GET so that a later GET hits. The HEAD miss is
// answered from the fill's head (serveWhileFilling), so it cannot say
// stored; a body whole by then is stored before it goes out, and the GET
// that follows hits.
func TestHeadSharesGet(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static("0123456789", "Cache-Control", "max-age=60"))
	e := newEdge(t, c, edgeConfig{upstream: o.URL})

	resp, body := e.do(t, http.MethodHead, "/h")
	wantStatus(t, resp, 200, "fwd=uri-miss", "ttl=60")
	if cs := resp.Header.Get("Cache-Status"); strings.Contains(cs, "stored") {
		t.Errorf("HEAD miss: Cache-Status %q, answered from the head: never stored", cs)
	}
	if body != "" {
		t.Errorf("HEAD body = %q, want empty", body)
	}
	if got := o.last(t).Method; got != http.MethodGet {
		t.Errorf("origin saw %s for a HEAD miss, want GET", got)
	}
	if resp.Header.Get("Content-Length") != "10" {
		t.Errorf("HEAD Content-Length = %q, want 10", resp.Header.Get("Content-Length"))
	}
	resp, body = e.get(t, "/h")
	wantStatus(t, resp, 200, "hit")
	if body != "0123456789" {
		t.Errorf("GET body = %q", body)
	}
	resp, _ = e.do(t, http.MethodHead, "/h")
	wantStatus(t, resp, 200, "hit")
	if n := o.requests.Load(); n != 1 {
		t.Errorf("origin requests = %d, want 1", n)
	}
}

// RFC 9111 §4.2.1: s-maxage takes precedence over max-age, which takes
// precedence over Expires, for a shared cache.
func TestFreshnessPrecedence(t *testing.T) {
	base := newClock()
	tests := []struct {
		name   string
		fields []string
		after  time.Duration
		hit    bool
	}{
		{"s-maxage over max-age", []string{"Cache-Control", "max-age=1, s-maxage=100"}, 50 * time.Second, true},
		{"s-maxage shorter than max-age", []string{"Cache-Control", "max-age=100, s-maxage=1"}, 50 * time.Second, false},
		{"max-age over Expires", []string{"Cache-Control", "max-age=100", "Expires", httpDate(base.Now().Add(-time.Hour))}, 50 * time.Second, true},
		{"Expires", []string{"Expires", httpDate(base.Now().Add(100 * time.Second))}, 50 * time.Second, true},
		{"Expires passed", []string{"Expires", httpDate(base.Now().Add(10 * time.Second))}, 50 * time.Second, false},
		// RFC 9111 §5.3: an invalid Expires means already expired.
		{"invalid Expires", []string{"Expires", "0"}, time.Second, false},
		{"max-age=0", []string{"Cache-Control", "max-age=0"}, 0, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{now: base.Now()}
			o := newOrigin(t, c, static("x", tt.fields...))
			e := newEdge(t, c, edgeConfig{upstream: o.URL})
			path := fmt.Sprintf("/f%d", i)
			e.get(t, path)
			c.Advance(tt.after)
			resp, _ := e.get(t, path)
			if got := isHit(resp); got != tt.hit {
				t.Errorf("hit = %v, want %v (Cache-Status %q)", got, tt.hit, resp.Header.Get("Cache-Status"))
			}
		})
	}
}

// RFC 9111 §4.2.2: heuristic freshness only for heuristically cacheable
// statuses (RFC 9110 §15.1), as a fraction of the time since Last-Modified.
func TestHeuristicFreshness(t *testing.T) {
	c := newClock()
	lastModified := httpDate(c.Now().Add(-100 * time.Hour)) // 10% = 10h
	for _, tt := range []struct {
		status int
		after  time.Duration
		hit    bool
	}{
		{200, 9 * time.Hour, true},
		{200, 11 * time.Hour, false},
		{404, time.Hour, true},
		{201, time.Second, false}, // not heuristically cacheable
		{500, time.Second, false},
	} {
		t.Run(fmt.Sprintf("%d after %s", tt.status, tt.after), func(t *testing.T) {
			o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Last-Modified", lastModified)
				w.WriteHeader(tt.status)
			})
			e := newEdge(t, c, edgeConfig{upstream: o.URL})
			e.get(t, "/heur")
			c.Advance(tt.after)
			resp, _ := e.get(t, "/heur")
			if got := isHit(resp); got != tt.hit {
				t.Errorf("hit = %v, want %v (Cache-Status %q)", got, tt.hit, resp.Header.Get("Cache-Status"))
			}
		})
	}
}

// RFC 9111 §3, §3.5, §5.2.2: responses a shared cache must not store, and
// edged's rule for Set-Cookie.
func TestNotStored(t *testing.T) {
	c := newClock()
	tests := []struct {
		name    string
		fields  []string
		request []string
		stored  bool
	}{
		{"no-store", []string{"Cache-Control", "max-age=60, no-store"}, nil, false},
		{"private", []string{"Cache-Control", "private, max-age=60"}, nil, false},
		{"request no-store", []string{"Cache-Control", "max-age=60"}, []string{"Cache-Control", "no-store"}, false},
		{"authorization", []string{"Cache-Control", "max-age=60"}, []string{"Authorization", "Bearer x"}, false},
		{"authorization with public", []string{"Cache-Control", "public, max-age=60"}, []string{"Authorization", "Bearer x"}, true},
		{"authorization with s-maxage", []string{"Cache-Control", "s-maxage=60"}, []string{"Authorization", "Bearer x"}, true},
		{"set-cookie", []string{"Cache-Control", "max-age=60", "Set-Cookie", "a=b"}, nil, false},
		{"set-cookie with public", []string{"Cache-Control", "public, max-age=60", "Set-Cookie", "a=b"}, nil, true},
		{"vary star", []string{"Cache-Control", "max-age=60", "Vary", "*"}, nil, false},
		{"plain 200", []string{"Cache-Control", "max-age=60"}, nil, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrigin(t, c, static("x", tt.fields...))
			e := newEdge(t, c, edgeConfig{upstream: o.URL})
			path := fmt.Sprintf("/ns%d", i)
			e.get(t, path, tt.request...)
			resp, _ := e.get(t, path, tt.request...)
			if got := isHit(resp); got != tt.stored {
				t.Errorf("second request hit = %v, want %v (Cache-Status %q)", got, tt.stored, resp.Header.Get("Cache-Status"))
			}
		})
	}
}

// A response that sets a cookie may be stored when public, but the cookie
// goes only to the client whose request fetched it.
func TestSetCookieNeverServedToAnother(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static("x", "Cache-Control", "public, max-age=60", "Set-Cookie", "session=secret"))
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	resp, _ := e.get(t, "/c")
	if resp.Header.Get("Set-Cookie") != "session=secret" {
		t.Errorf("first client Set-Cookie = %q, want the origin's", resp.Header.Get("Set-Cookie"))
	}
	resp, _ = e.get(t, "/c")
	wantStatus(t, resp, 200, "hit")
	if got := resp.Header.Values("Set-Cookie"); len(got) != 0 {
		t.Errorf("second client got Set-Cookie %q", got)
	}
}

// RFC 9111 §5.2.2.7: the fields a qualified private names belong to the
// one user the response answers. The client whose request fetched it gets
// them; a client collapsed onto that fetch, and a later hit, do not.
func TestPrivateFieldsOnlyToFetcher(t *testing.T) {
	c := newClock()
	release := newGate()
	t.Cleanup(release.open)
	page := static("page", "Cache-Control", `private="X-User", max-age=60`, "X-User", "alice")
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		release.wait()
		page(w, r)
	})
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	first := getLater(e.URL + "/p")
	waitFor(t, func() bool { return o.requests.Load() == 1 })
	second := getLater(e.URL + "/p")
	waitJoined(t, e, 1)
	release.open()
	r1, r2 := <-first, <-second
	if r1 == nil || r2 == nil {
		t.Fatal("a request failed")
	}
	if got := r1.Header.Get("X-User"); got != "alice" {
		t.Errorf("fetching client X-User = %q, want alice", got)
	}
	if got := r2.Header.Values("X-User"); len(got) != 0 {
		t.Errorf("collapsed client got X-User %q", got)
	}
	resp, _ := e.get(t, "/p")
	wantStatus(t, resp, 200, "hit")
	if got := resp.Header.Values("X-User"); len(got) != 0 {
		t.Errorf("later client got X-User %q", got)
	}
}

// getLater GETs url on its own goroutine; the response (body closed) comes
// on the channel, nil when the request failed.
func getLater(url string) <-chan *http.Response { return getLaterWith(url) }

// The same for a first request with a Range, which may be answered as the
// body arrives, from the header made for storing.
func TestPrivateFieldsToRangedFetcher(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static("0123456789", "Cache-Control", `private="X-User", max-age=60`, "X-User", "alice"))
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	resp, body := e.get(t, "/r", "Range", "bytes=0-1")
	if resp.StatusCode != http.StatusPartialContent || body != "01" {
		t.Fatalf("status %d body %q, want 206 \"01\"", resp.StatusCode, body)
	}
	if got := resp.Header.Get("X-User"); got != "alice" {
		t.Errorf("fetching client X-User = %q, want alice (Cache-Status %q)", got, resp.Header.Get("Cache-Status"))
	}
}

// RFC 9213 §2.1: CDN-Cache-Control and Surrogate-Control take precedence
// over Cache-Control for this cache and are not forwarded to clients.
func TestTargetedFields(t *testing.T) {
	c := newClock()
	for _, field := range []string{"CDN-Cache-Control", "Surrogate-Control"} {
		t.Run(field, func(t *testing.T) {
			o := newOrigin(t, c, static("x", "Cache-Control", "no-store", field, "max-age=60"))
			e := newEdge(t, c, edgeConfig{upstream: o.URL})
			e.get(t, "/t")
			resp, _ := e.get(t, "/t")
			wantStatus(t, resp, 200, "hit")
			if resp.Header.Get(field) != "" {
				t.Errorf("%s forwarded to the client", field)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q, want the origin's no-store for browsers", resp.Header.Get("Cache-Control"))
			}
		})
	}
	t.Run("CDN-Cache-Control no-store wins", func(t *testing.T) {
		o := newOrigin(t, c, static("x", "Cache-Control", "max-age=60", "CDN-Cache-Control", "no-store"))
		e := newEdge(t, c, edgeConfig{upstream: o.URL})
		e.get(t, "/t")
		resp, _ := e.get(t, "/t")
		if isHit(resp) {
			t.Errorf("stored despite CDN-Cache-Control: no-store")
		}
	})
}

// RFC 9111 §4.3: a stale response is validated with its validators; a 304
// freshens it (§4.3.4) and updates its stored header fields (§3.2).
func TestRevalidation304(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static("body-v1", "Cache-Control", "max-age=10", "ETag", `"v1"`, "X-Gen", "1"))
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	e.get(t, "/r")
	c.Advance(20 * time.Second)
	o.set(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") != `"v1"` {
			t.Errorf("revalidation If-None-Match = %q, want \"v1\"", r.Header.Get("If-None-Match"))
		}
		w.Header().Set("Cache-Control", "max-age=100")
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("X-Gen", "2")
		w.WriteHeader(http.StatusNotModified)
	})
	resp, body := e.get(t, "/r")
	wantStatus(t, resp, 200, "fwd=stale", "fwd-status=304", "stored")
	if body != "body-v1" || resp.Header.Get("X-Gen") != "2" {
		t.Errorf("body %q X-Gen %q, want body-v1 and the 304's X-Gen 2", body, resp.Header.Get("X-Gen"))
	}
	c.Advance(50 * time.Second)
	resp, _ = e.get(t, "/r")
	wantStatus(t, resp, 200, "hit")
	if resp.Header.Get("X-Gen") != "2" {
		t.Errorf("stored header not updated: X-Gen %q", resp.Header.Get("X-Gen"))
	}
	if n := o.requests.Load(); n != 2 {
		t.Errorf("origin requests = %d, want 2", n)
	}
}

// RFC 9111 §4.3.1: Last-Modified is sent as If-Modified-Since; a full 200
// replaces the stored response (§4.3.3).
func TestRevalidationReplaced(t *testing.T) {
	c := newClock()
	lm := httpDate(c.Now().Add(-time.Hour))
	o := newOrigin(t, c, static("old", "Cache-Control", "max-age=10", "Last-Modified", lm))
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	e.get(t, "/m")
	c.Advance(20 * time.Second)
	o.set(static("new", "Cache-Control", "max-age=10"))
	resp, body := e.get(t, "/m")
	if got := o.last(t).Header.Get("If-Modified-Since"); got != lm {
		t.Errorf("If-Modified-Since = %q, want %q", got, lm)
	}
	wantStatus(t, resp, 200, "fwd=stale", "fwd-status=200")
	if body != "new" {
		t.Errorf("body = %q, want new", body)
	}
	resp, body = e.get(t, "/m")
	wantStatus(t, resp, 200, "hit")
	if body != "new" {
		t.Errorf("body = %q after replacement", body)
	}
}

// RFC 9111 §5.2.2.4 and §5.2.1.4: response no-cache and request no-cache
// force validation of a stored response before each reuse.
func TestNoCacheRevalidates(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"e"`)
		w.Header().Set("Cache-Control", "no-cache")
		if r.Header.Get("If-None-Match") == `"e"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = w.Write([]byte("body"))
	})
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	e.get(t, "/nc")
	resp, body := e.get(t, "/nc")
	wantStatus(t, resp, 200, "fwd=stale", "fwd-status=304")
	if body != "body" {
		t.Errorf("body = %q", body)
	}

	o.set(static("fresh", "Cache-Control", "max-age=600"))
	e.get(t, "/rq")
	before := o.requests.Load()
	for _, fields := range [][]string{{"Cache-Control", "no-cache"}, {"Pragma", "no-cache"}, {"Cache-Control", "max-age=0"}} {
		c.Advance(time.Second) // request max-age=0 accepts a response of age 0 (RFC 9111 §5.2.1.1)
		resp, _ := e.get(t, "/rq", fields...)
		if isHit(resp) {
			t.Errorf("request %v served from cache without validation", fields)
		}
	}
	if got := o.requests.Load() - before; got != 3 {
		t.Errorf("origin requests for forced validations = %d, want 3", got)
	}
}

// RFC 9111 §4.3.2: a cache answers a client's conditional request from a
// stored response.
func TestClientConditionalFromCache(t *testing.T) {
	c := newClock()
	lm := httpDate(c.Now().Add(-time.Hour))
	o := newOrigin(t, c, static("body", "Cache-Control", "max-age=60", "ETag", `"abc"`, "Last-Modified", lm, "Content-Type", "text/plain"))
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	e.get(t, "/cond")
	for _, tt := range []struct {
		fields []string
		status int
	}{
		{[]string{"If-None-Match", `"abc"`}, 304},
		{[]string{"If-None-Match", `W/"abc"`}, 304}, // weak comparison, RFC 9110 §13.1.2
		{[]string{"If-None-Match", `"other"`}, 200},
		{[]string{"If-None-Match", `*`}, 304},
		{[]string{"If-Modified-Since", lm}, 304},
		{[]string{"If-Modified-Since", httpDate(c.Now().Add(-2 * time.Hour))}, 200},
		// RFC 9110 §13.1.3: If-Modified-Since is ignored with If-None-Match.
		{[]string{"If-None-Match", `"other"`, "If-Modified-Since", lm}, 200},
		{[]string{"If-Match", `"other"`}, 412},
	} {
		resp, body := e.get(t, "/cond", tt.fields...)
		if resp.StatusCode != tt.status {
			t.Errorf("%v: status %d, want %d", tt.fields, resp.StatusCode, tt.status)
		}
		if tt.status == 304 && (body != "" || resp.Header.Get("ETag") != `"abc"`) {
			t.Errorf("%v: 304 with body %q ETag %q", tt.fields, body, resp.Header.Get("ETag"))
		}
	}
	if n := o.requests.Load(); n != 1 {
		t.Errorf("origin requests = %d, want 1 (conditionals answered from cache)", n)
	}
}

// RFC 9111 §4.1: Vary selects among stored variants; Vary: * never matches.
func TestVary(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Accept-Language")
		_, _ = w.Write([]byte("lang=" + r.Header.Get("Accept-Language")))
	})
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	resp, body := e.get(t, "/v", "Accept-Language", "en")
	wantStatus(t, resp, 200, "fwd=uri-miss", "stored")
	resp, body2 := e.get(t, "/v", "Accept-Language", "fr")
	wantStatus(t, resp, 200, "fwd=vary-miss", "stored")
	if body != "lang=en" || body2 != "lang=fr" {
		t.Fatalf("bodies %q %q", body, body2)
	}
	for _, lang := range []string{"en", "fr"} {
		resp, body := e.get(t, "/v", "Accept-Language", lang)
		wantStatus(t, resp, 200, "hit")
		if body != "lang="+lang {
			t.Errorf("variant %s served %q", lang, body)
		}
	}
	resp, body = e.get(t, "/v")
	wantStatus(t, resp, 200, "fwd=vary-miss")
	if body != "lang=" {
		t.Errorf("no-language variant = %q", body)
	}
	if n := o.requests.Load(); n != 3 {
		t.Errorf("origin requests = %d, want 3", n)
	}
}

// RFC 5861 §3: stale-while-revalidate serves the stale response at once and
// refreshes it once in the background.
func TestStaleWhileRevalidate(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static("v1", "Cache-Control", "max-age=10, stale-while-revalidate=60"))
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	e.get(t, "/swr")
	c.Advance(20 * time.Second)
	o.set(static("v2", "Cache-Control", "max-age=10, stale-while-revalidate=60"))
	resp, body := e.get(t, "/swr")
	wantStatus(t, resp, 200, "hit", "ttl=-10")
	if body != "v1" {
		t.Errorf("stale body = %q, want v1", body)
	}
	e.waitTasks(t) // the background refresh
	e.store.Flush()
	resp, body = e.get(t, "/swr")
	wantStatus(t, resp, 200, "hit")
	if body != "v2" {
		t.Errorf("after refresh body = %q, want v2", body)
	}
	if n := o.requests.Load(); n != 2 {
		t.Errorf("origin requests = %d, want 2", n)
	}
	// Past the stale-while-revalidate window the cache must validate first.
	c.Advance(100 * time.Second)
	resp, _ = e.get(t, "/swr")
	wantStatus(t, resp, 200, "fwd=stale")
}

// RFC 5861 §4: stale-if-error serves the stale response when the upstream
// fails or answers 5xx; RFC 9111 §5.2.2.2: must-revalidate forbids it.
func TestStaleIfError(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static("good", "Cache-Control", "max-age=10, stale-if-error=60"))
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	e.get(t, "/sie")
	c.Advance(20 * time.Second)
	o.set(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	resp, body := e.get(t, "/sie")
	wantStatus(t, resp, 200, "fwd=stale", "fwd-status=503", "stale-if-error")
	if body != "good" {
		t.Errorf("body = %q, want the stale good", body)
	}
	o.Close() // upstream unreachable
	resp, body = e.get(t, "/sie")
	wantStatus(t, resp, 200, "stale-if-error")
	if body != "good" {
		t.Errorf("body = %q, want the stale good", body)
	}
	c.Advance(2 * time.Minute) // beyond stale-if-error
	resp, _ = e.get(t, "/sie")
	wantStatus(t, resp, 502, "upstream-unreachable")
}

func TestMustRevalidateUpstreamDown(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static("x", "Cache-Control", "max-age=10, must-revalidate, stale-if-error=60"))
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	e.get(t, "/mr")
	c.Advance(20 * time.Second)
	o.Close()
	resp, body := e.get(t, "/mr")
	if resp.StatusCode != 502 && resp.StatusCode != 504 {
		t.Errorf("status = %d, want 502/504: must-revalidate forbids serving stale (RFC 9111 §5.2.2.2)", resp.StatusCode)
	}
	if body == "x" {
		t.Error("served the stale body")
	}
}

// RFC 9111 §4.4: a non-error response to an unsafe method invalidates the
// target URI and same-host Location and Content-Location.
func TestUnsafeMethodInvalidates(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.Header().Set("Location", "/other")
			w.Header().Set("Content-Location", "http://elsewhere.example/kept")
			w.WriteHeader(http.StatusCreated)
			return
		}
		w.Header().Set("Cache-Control", "max-age=600")
		_, _ = w.Write([]byte(r.URL.Path))
	})
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	for _, p := range []string{"/target", "/other"} {
		e.get(t, p)
		if resp, _ := e.get(t, p); !isHit(resp) {
			t.Fatalf("%s not cached", p)
		}
	}
	resp, _ := e.do(t, http.MethodPost, "/target")
	wantStatus(t, resp, 201, "fwd=method")
	for _, p := range []string{"/target", "/other"} {
		if resp, _ := e.get(t, p); isHit(resp) {
			t.Errorf("%s still served from cache after POST", p)
		}
	}

	// An error response invalidates nothing.
	o.set(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		w.Header().Set("Cache-Control", "max-age=600")
	})
	e.get(t, "/keep")
	e.do(t, http.MethodDelete, "/keep")
	if resp, _ := e.get(t, "/keep"); !isHit(resp) {
		t.Errorf("a 403 to DELETE invalidated the stored response")
	}
}

// Methods other than GET and HEAD pass through with their bodies.
func TestPassThroughBody(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		b := new(strings.Builder)
		_, _ = fmt.Fprintf(b, "%s ", r.Method)
		buf := make([]byte, 100)
		n, _ := r.Body.Read(buf)
		b.Write(buf[:n])
		_, _ = w.Write([]byte(b.String()))
	})
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	resp, err := http.Post(e.URL+"/p", "text/plain", strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := new(strings.Builder)
	_, _ = fmt.Fprint(buf, readAll(t, resp))
	if buf.String() != "POST payload" {
		t.Errorf("origin echoed %q", buf.String())
	}
	r2, _ := e.do(t, "TRACE", "/p")
	if r2.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("TRACE status %d, want 405", r2.StatusCode)
	}
}

// RFC 9111 §5.2.1.7: only-if-cached gets a stored response or 504.
func TestOnlyIfCached(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static("x", "Cache-Control", "max-age=60"))
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	resp, _ := e.get(t, "/oic", "Cache-Control", "only-if-cached")
	if resp.StatusCode != http.StatusGatewayTimeout || o.requests.Load() != 0 {
		t.Errorf("status %d origin %d, want 504 and no upstream request", resp.StatusCode, o.requests.Load())
	}
	e.get(t, "/oic")
	resp, _ = e.get(t, "/oic", "Cache-Control", "only-if-cached")
	wantStatus(t, resp, 200, "hit")
}

// RFC 9111 §4.2.3: the Age the upstream reports counts against freshness.
func TestUpstreamAgeCounts(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static("x", "Cache-Control", "max-age=60", "Age", "100"))
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	e.get(t, "/age")
	resp, _ := e.get(t, "/age")
	if isHit(resp) {
		t.Errorf("served as fresh though Age 100 > max-age 60 (Cache-Status %q)", resp.Header.Get("Cache-Status"))
	}
	if age := resp.Header.Get("Age"); age == "" || age == "0" {
		t.Errorf("Age = %q, want >= 100", age)
	}
}

// Statuses not cacheable by default are not stored (RFC 9111 §3, RFC 9110 §15.1).
func TestErrorStatusNotStored(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	e.get(t, "/e")
	resp, _ := e.get(t, "/e")
	if resp.StatusCode != 503 || isHit(resp) {
		t.Errorf("status %d hit %v, want 503 from origin", resp.StatusCode, isHit(resp))
	}
	if n := o.requests.Load(); n != 2 {
		t.Errorf("origin requests = %d, want 2", n)
	}
}

func TestRangeFromCache(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static("0123456789", "Cache-Control", "max-age=60", "ETag", `"r"`))
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	resp, body := e.get(t, "/range", "Range", "bytes=2-4")
	if resp.StatusCode != http.StatusPartialContent || body != "234" {
		t.Errorf("miss with Range: status %d body %q, want 206 234", resp.StatusCode, body)
	}
	if got := o.last(t).Header.Get("Range"); got != "" {
		t.Errorf("Range forwarded upstream on a fill: %q", got)
	}
	e.settle(t)
	resp, body = e.get(t, "/range", "Range", "bytes=-3")
	if resp.StatusCode != http.StatusPartialContent || body != "789" || !isHit(resp) {
		t.Errorf("hit with Range: status %d body %q", resp.StatusCode, body)
	}
	if cr := resp.Header.Get("Content-Range"); cr != "bytes 7-9/10" {
		t.Errorf("Content-Range = %q", cr)
	}
	resp, _ = e.get(t, "/range", "Range", "bytes=50-60")
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("unsatisfiable range: status %d, want 416", resp.StatusCode)
	}
	resp, body = e.get(t, "/range", "Range", "bytes=0-1", "If-Range", `"other"`)
	if resp.StatusCode != 200 || body != "0123456789" {
		t.Errorf("If-Range mismatch: status %d body %q, want the whole 200", resp.StatusCode, body)
	}
}

// Objects larger than the limit are streamed to the client and not stored.
func TestLargeObjectStreamedNotStored(t *testing.T) {
	c := newClock()
	big := strings.Repeat("x", 10<<10)
	o := newOrigin(t, c, static(big, "Cache-Control", "max-age=60"))
	e := newEdge(t, c, edgeConfig{upstream: o.URL, maxObject: 1 << 10})
	for i := 0; i < 2; i++ {
		resp, body := e.get(t, "/big")
		if body != big {
			t.Fatalf("request %d: body length %d, want %d", i, len(body), len(big))
		}
		if isHit(resp) {
			t.Errorf("request %d: object over the limit served from cache", i)
		}
	}
	if n := o.requests.Load(); n != 2 {
		t.Errorf("origin requests = %d, want 2", n)
	}
}

// RFC 9110 §7.6.3: Via is added, and a request that already passed through
// this node is refused as a loop.
func TestViaAndLoop(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static("x", "Cache-Control", "max-age=60"))
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	resp, _ := e.get(t, "/via")
	if via := o.last(t).Header.Get("Via"); !strings.Contains(via, "edged") {
		t.Errorf("origin saw Via %q", via)
	}
	if !strings.Contains(resp.Header.Get("Via"), "edged") {
		t.Errorf("response Via = %q", resp.Header.Get("Via"))
	}
	resp, _ = e.get(t, "/via", "Via", "1.1 other, 1.1 edged")
	if resp.StatusCode != http.StatusLoopDetected {
		t.Errorf("looping request status %d, want 508", resp.StatusCode)
	}
}

// Objects survive a restart: the disk tier is read after reopening.
func TestSurvivesRestart(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static("persisted", "Cache-Control", "max-age=600"))
	dir := t.TempDir()
	e := newEdge(t, c, edgeConfig{upstream: o.URL, dir: dir})
	site := []string{"Host", "www.example.com"} // the restarted edge listens on another port
	e.get(t, "/keep", site...)
	e.stop()
	e2 := newEdge(t, c, edgeConfig{upstream: o.URL, dir: dir})
	resp, body := e2.get(t, "/keep", site...)
	wantStatus(t, resp, 200, "hit")
	if body != "persisted" || o.requests.Load() != 1 {
		t.Errorf("body %q origin requests %d", body, o.requests.Load())
	}
}

// Upstream failures become 502/504 with a Cache-Status detail.
func TestUpstreamErrors(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static("x"))
	url := o.URL
	o.Close()
	e := newEdge(t, c, edgeConfig{upstream: url})
	resp, _ := e.get(t, "/down")
	wantStatus(t, resp, 502, "fwd=uri-miss", `detail=upstream-unreachable`)
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("error response Cache-Control = %q, want no-store", resp.Header.Get("Cache-Control"))
	}
}

func TestBadTarget(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static("x"))
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	resp, _ := e.get(t, "/x", "Host", "bad host!")
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status %d, want 400", resp.StatusCode)
	}
	if o.requests.Load() != 0 {
		t.Error("a bad target reached the origin")
	}
}

// RFC 9110 §14.2: a server may ignore Range; edged does for requests asking
// for absurdly many ranges, and serves multipart/byteranges for a few.
func TestRangeCountLimited(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static(strings.Repeat("0123456789", 10), "Cache-Control", "max-age=60", "Content-Type", "text/plain"))
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	e.get(t, "/r")
	resp, body := e.get(t, "/r", "Range", "bytes=0-1,5-6")
	if resp.StatusCode != http.StatusPartialContent || !strings.HasPrefix(resp.Header.Get("Content-Type"), "multipart/byteranges") || !strings.Contains(body, "01") {
		t.Errorf("two ranges: status %d type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	many := "bytes=" + strings.TrimSuffix(strings.Repeat("0-0,", maxRanges+1), ",")
	resp, body = e.get(t, "/r", "Range", many)
	if resp.StatusCode != http.StatusOK || len(body) != 100 {
		t.Errorf("%d ranges: status %d length %d, want the whole 200", maxRanges+1, resp.StatusCode, len(body))
	}
}

// An upstream that hangs gets a 504, one that answers garbage a 502, each
// with a Cache-Status detail, and nothing of either is stored.
func TestUpstreamHangAndGarbage(t *testing.T) {
	c := newClock()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				buf := make([]byte, 4096)
				n, _ := conn.Read(buf)
				if strings.Contains(string(buf[:n]), "/garbage") {
					_, _ = conn.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: nonsense\r\nCache-Control: max-age=60\r\n\r\nhello"))
					return
				}
				<-stop // hang
			}()
		}
	}()
	store, err := storage.Open(storage.Options{Dir: t.TempDir(), Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	// The garbage must arrive within the header timeout even on a loaded
	// machine, or it would be reported as a timeout; the hang waits it out.
	up, err := origin.New(origin.Options{Origin: "http://" + ln.Addr().String(), Via: "edged", HeaderTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Options{Name: "edged", Store: store, Upstream: up, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	e := &testEdge{Server: newPublicServer(t, h), handler: h, store: store}
	t.Cleanup(e.stop)

	resp, _ := e.get(t, "/hang")
	wantStatus(t, resp, http.StatusGatewayTimeout, "detail=upstream-timeout")
	resp, body := e.get(t, "/garbage")
	wantStatus(t, resp, http.StatusBadGateway, "detail=upstream-error")
	if strings.Contains(body, "hello") {
		t.Errorf("garbage passed on: %q", body)
	}
	store.Flush()
	if st := store.Stats(); st.DiskEntries != 0 || st.MemoryEntries != 0 {
		t.Errorf("something was stored: %+v", st)
	}
}

// The number of Vary variants stored per URL is capped: beyond it a new
// variant replaces the least used one, never one used more than itself.
// When every stored variant is used more than a newcomer, the newcomer is
// served but not stored until it has been asked for as often.
func TestVaryVariantsCapped(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Vary", "User-Agent")
		_, _ = w.Write([]byte(r.Header.Get("User-Agent")))
	})
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	get := func(ua string) *http.Response {
		t.Helper()
		resp, body := e.get(t, "/v", "User-Agent", ua)
		if body != ua {
			t.Fatalf("%s served %q", ua, body)
		}
		return resp
	}
	stored := func(resp *http.Response) bool { return strings.Contains(resp.Header.Get("Cache-Status"), "stored") }
	// Each variant stored and hit once: two uses each.
	for i := range maxVariants {
		ua := fmt.Sprintf("agent-%d", i)
		if resp := get(ua); !stored(resp) {
			t.Errorf("%s: not stored within the cap (Cache-Status %q)", ua, resp.Header.Get("Cache-Status"))
		}
		if resp := get(ua); !isHit(resp) {
			t.Errorf("%s: not a hit (Cache-Status %q)", ua, resp.Header.Get("Cache-Status"))
		}
	}
	// A newcomer used once is used less than any of them.
	if resp := get("newcomer"); stored(resp) || !strings.Contains(resp.Header.Get("Cache-Status"), "too-many-variants") {
		t.Errorf("newcomer, request 1: Cache-Status %q, want not stored (too-many-variants)", resp.Header.Get("Cache-Status"))
	}
	// Its second request makes it used as much as the least used variant
	// (agent-0: two uses, the longest ago), which it replaces.
	if resp := get("newcomer"); !stored(resp) {
		t.Errorf("newcomer, request 2: Cache-Status %q, want stored", resp.Header.Get("Cache-Status"))
	}
	if resp := get("newcomer"); !isHit(resp) {
		t.Errorf("newcomer, request 3: Cache-Status %q, want a hit", resp.Header.Get("Cache-Status"))
	}
	if resp := get("agent-1"); !isHit(resp) {
		t.Error("agent-1 is no longer served from cache")
	}
	if resp := get("agent-0"); isHit(resp) {
		t.Error("agent-0, the least used variant, is still stored")
	}
	e.store.Flush()
	held, _, err := e.store.Family(e.URL+"/v", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if variants := len(held) - 1; variants > maxVariants || variants < maxVariants-1 {
		t.Errorf("%d variants stored, want %d", variants, maxVariants)
	}
}

// Request bodies over the limit are refused with 413, with or without a
// Content-Length, and the origin never sees them complete.
func TestRequestBodyLimit(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		_, _ = fmt.Fprintf(w, "got %d", len(b))
	})
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	e.handler.opts.MaxBodyBytes = 1000
	resp, err := http.Post(e.URL+"/up", "text/plain", strings.NewReader(strings.Repeat("x", 500)))
	if err != nil {
		t.Fatal(err)
	}
	if b := readAll(t, resp); resp.StatusCode != 200 || b != "got 500" {
		t.Errorf("small body: %d %q", resp.StatusCode, b)
	}
	resp, err = http.Post(e.URL+"/up", "text/plain", strings.NewReader(strings.Repeat("x", 5000)))
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("large body with Content-Length: status %d, want 413", resp.StatusCode)
	}
	// Chunked: no length to check first.
	resp, err = http.Post(e.URL+"/up", "text/plain", io.MultiReader(strings.NewReader(strings.Repeat("x", 5000))))
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("large chunked body: status %d body %q, want 413", resp.StatusCode, body)
	}
}
