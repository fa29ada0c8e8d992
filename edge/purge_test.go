package edge

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"edged/edge/clientip"
	"edged/storage"
)

// recordingPurger stands in for the purge bus: it records the URLs it was
// asked to purge.
type recordingPurger struct {
	mu   sync.Mutex
	urls []string
}

func (p *recordingPurger) PurgeURL(ctx context.Context, url string, soft bool) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.urls = append(p.urls, url)
	return 1, nil
}

func TestPurgeMethod(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static("x", "Cache-Control", "max-age=60"))
	e := newEdge(t, c, edgeConfig{upstream: o.URL})

	resp, _ := e.do(t, methodPurge, "/p")
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("PURGE without a purger: status %d, want 405", resp.StatusCode)
	}
	p := &recordingPurger{}
	e.handler.opts.Purger = p
	resp, _ = e.do(t, methodPurge, "/p")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("PURGE from a network not allowed: status %d, want 403", resp.StatusCode)
	}
	e.handler.opts.PurgeFrom = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	resp, body := e.do(t, methodPurge, "/p?q=1", "Host", "WWW.Example.com:80")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PURGE: status %d body %q", resp.StatusCode, body)
	}
	if len(p.urls) != 1 || p.urls[0] != "http://www.example.com/p?q=1" {
		t.Errorf("purged %q, want the normalized key", p.urls)
	}
	if o.requests.Load() != 0 {
		t.Error("PURGE reached the origin")
	}
}

// Purge tags are stored with the object and never shown to clients of an
// edge; a shield passes them on to its edges.
func TestTagsStoredAndStripped(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static("x", "Cache-Control", "max-age=60", "Surrogate-Key", "a b", "Cache-Tag", "c"))
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	shield := newEdge(t, c, edgeConfig{name: "shield", upstream: o.URL, shield: true})
	for _, resp := range []*http.Response{first(e.get(t, "/t")), first(e.get(t, "/t"))} {
		if resp.Header.Get("Surrogate-Key") != "" || resp.Header.Get("Cache-Tag") != "" {
			t.Errorf("edge sent tags to a client: %v", resp.Header)
		}
	}
	resp, _ := shield.get(t, "/t")
	if resp.Header.Get("Surrogate-Key") != "a b" || resp.Header.Get("Cache-Tag") != "c" {
		t.Errorf("shield dropped tags: %v", resp.Header)
	}
	e.store.Flush()
	entry, _, err := e.store.Get("http://" + e.Listener.Addr().String() + "/t")
	if err != nil {
		t.Fatal(err)
	}
	if len(entry.Tags) != 3 {
		t.Errorf("stored tags %q, want a b c", entry.Tags)
	}
}

func first(resp *http.Response, _ string) *http.Response { return resp }

// An object whose fetch began before a (hard) purge and ended after it is
// not stored as fresh: the next request revalidates it. It may predate the
// purge, so it is never served stale either, whatever the response allows.
func TestPurgeDuringFill(t *testing.T) {
	c := newClock()
	release := newGate()
	var failing atomic.Bool
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Slow") != "" {
			release.wait()
		}
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Cache-Control", "max-age=600, stale-while-revalidate=600, stale-if-error=600")
		w.Header().Set("ETag", `"v"`)
		_, _ = w.Write([]byte("v"))
	})
	t.Cleanup(release.open) // runs before the origin closes, so a failing test cannot hang
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.get(t, "/racing", "Host", "h.example", "X-Slow", "1")
	}()
	waitFor(t, func() bool { return o.requests.Load() == 1 })
	if _, err := e.store.Purge(storage.Purge{Keys: []string{"http://h.example/racing"}}); err != nil {
		t.Fatal(err)
	}
	release.open()
	<-done
	e.store.Flush()
	failing.Store(true)
	resp, body := e.get(t, "/racing", "Host", "h.example")
	if resp.StatusCode != http.StatusServiceUnavailable || body == "v" {
		t.Errorf("origin failing: %d %q (%s); a response fetched across a purge was served stale", resp.StatusCode, body, cacheStatus(resp))
	}
	failing.Store(false)
	resp, _ = e.get(t, "/racing", "Host", "h.example")
	if isHit(resp) {
		t.Errorf("a response fetched across a purge was served without validation: %q", resp.Header.Get("Cache-Status"))
	}
	wantStatus(t, resp, 200, "fwd=stale")
}

// A purge that reaches an edge before its shield: the copy the edge fetches
// from the shield was made before the purge, so it is kept stale, not
// fresh, and the next request revalidates it.
func TestPurgeRaceWithShield(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static("v1", "Cache-Control", "max-age=600", "ETag", `"v1"`))
	shield := newEdge(t, c, edgeConfig{name: "shield", upstream: o.URL, shield: true})
	e := newEdge(t, c, edgeConfig{shields: []string{shield.URL}})
	site := []string{"Host", "h.example"}
	e.get(t, "/obj", site...)
	c.Advance(5 * time.Second)
	if _, err := e.store.Purge(storage.Purge{Keys: []string{"http://h.example/obj"}}); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Second)
	resp, _ := e.get(t, "/obj", site...) // the shield has not applied the purge: its copy comes back
	if !strings.Contains(resp.Header.Get("Cache-Status"), "shield; hit") {
		t.Fatalf("expected the shield's old copy, got %q", resp.Header.Get("Cache-Status"))
	}
	e.store.Flush()
	resp, _ = e.get(t, "/obj", site...)
	if isHit(resp) {
		t.Errorf("the pre-purge copy from the shield was kept fresh: %q", resp.Header.Get("Cache-Status"))
	}
}

// softPurge marks the object stale on this edge, as the purge bus does.
func softPurge(t *testing.T, e *testEdge, key string, soft bool) {
	t.Helper()
	if _, err := e.store.Purge(storage.Purge{Keys: []string{key}, Soft: soft}); err != nil {
		t.Fatal(err)
	}
}

// A soft purge of an object whose response allows stale-while-revalidate
// (RFC 5861 §3) serves it stale at once while one background revalidation
// runs, shared by every request that comes meanwhile (Fastly's soft purge).
// The window counts from the purge, not from the object's expiry (here it
// is still fresh). Once the revalidation is stored, the next request gets
// the new object.
func TestSoftPurgeStaleWhileRevalidate(t *testing.T) {
	c := newClock()
	held := newGate()
	const cc = "max-age=600, stale-while-revalidate=60"
	var version atomic.Value
	version.Store("v1")
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		v := version.Load().(string)
		if v != "v1" {
			held.wait()
		}
		w.Header().Set("Cache-Control", cc)
		w.Header().Set("ETag", `"`+v+`"`)
		if r.Header.Get("If-None-Match") == `"`+v+`"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = w.Write([]byte(v))
	})
	t.Cleanup(held.open)
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	site := []string{"Host", "h.example"}
	e.get(t, "/obj", site...)
	e.store.Flush()
	c.Advance(10 * time.Second)
	softPurge(t, e, "http://h.example/obj", true)
	c.Advance(2 * time.Second)
	version.Store("v2") // the origin has new content, and is slow to send it

	var wg sync.WaitGroup
	stuck := time.AfterFunc(5*time.Second, func() {
		t.Error("requests waited for the revalidation instead of being served stale")
		held.open()
	})
	for range 5 {
		wg.Go(func() {
			resp, body := e.get(t, "/obj", site...)
			wantStatus(t, resp, 200, "hit", "ttl=-2", "stale-while-revalidate")
			if body != "v1" {
				t.Errorf("served %q during the revalidation, want the stale v1", body)
			}
		})
	}
	wg.Wait() // all answered while the revalidation is still held
	stuck.Stop()
	waitFor(t, func() bool { return o.requests.Load() == 2 })
	held.open()
	e.waitTasks(t)
	e.store.Flush()
	if n := o.requests.Load(); n != 2 {
		t.Errorf("origin requests = %d, want 2: one fill, one shared revalidation", n)
	}
	if inm := o.last(t).Header.Get("If-None-Match"); inm != `"v1"` {
		t.Errorf("revalidation If-None-Match = %q, want the stored validator", inm)
	}
	resp, body := e.get(t, "/obj", site...)
	wantStatus(t, resp, 200, "hit", "ttl=600")
	if body != "v2" || strings.Contains(cacheStatus(resp), "stale") {
		t.Errorf("after the revalidation: %q (%s), want a fresh v2", body, cacheStatus(resp))
	}
}

// What a soft purge does when stale-while-revalidate does not allow serving
// the object: the request waits for the revalidation (RFC 9111 §4.2.4:
// must-revalidate, proxy-revalidate and no-cache forbid serving stale),
// and past the window, which counts from the purge, so does it. A hard
// purge is never served stale, and neither is an object whose fetch
// overlapped one (TestPurgeDuringFill).
func TestSoftPurgeRevalidatesFirst(t *testing.T) {
	for _, tt := range []struct {
		name, cc string
		soft     bool
		after    time.Duration // from the purge to the request
		want     []string      // Cache-Status parts
	}{
		{"no stale-while-revalidate", "max-age=600", true, time.Second, []string{"fwd=stale", "fwd-status=200"}},
		{"must-revalidate", "max-age=600, stale-while-revalidate=60, must-revalidate", true, time.Second, []string{"fwd=stale"}},
		{"proxy-revalidate", "max-age=600, stale-while-revalidate=60, proxy-revalidate", true, time.Second, []string{"fwd=stale"}},
		{"no-cache", "max-age=600, stale-while-revalidate=60, no-cache", true, time.Second, []string{"fwd=stale"}},
		{"window counts from the purge", "max-age=600, stale-while-revalidate=60", true, 61 * time.Second, []string{"fwd=stale"}},
		{"hard purge", "max-age=600, stale-while-revalidate=60, stale-if-error=600", false, time.Second, []string{"fwd=uri-miss"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			var version atomic.Value
			version.Store("v1")
			o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", tt.cc)
				_, _ = w.Write([]byte(version.Load().(string)))
			})
			e := newEdge(t, c, edgeConfig{upstream: o.URL})
			site := []string{"Host", "h.example"}
			e.get(t, "/obj", site...)
			e.store.Flush()
			softPurge(t, e, "http://h.example/obj", tt.soft)
			version.Store("v2")
			c.Advance(tt.after)
			resp, body := e.get(t, "/obj", site...)
			wantStatus(t, resp, 200, tt.want...)
			if body != "v2" || isHit(resp) {
				t.Errorf("got %q (%s), want v2 from the origin before answering", body, cacheStatus(resp))
			}
		})
	}
}

// stale-if-error still serves a soft-purged object while the origin fails,
// counting its window from the purge; a hard purge leaves nothing to serve.
func TestSoftPurgeStaleIfError(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static("v1", "Cache-Control", "max-age=600, stale-if-error=60"))
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	site := []string{"Host", "h.example"}
	e.get(t, "/obj", site...)
	e.store.Flush()
	softPurge(t, e, "http://h.example/obj", true)
	o.set(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	c.Advance(30 * time.Second)
	resp, body := e.get(t, "/obj", site...)
	wantStatus(t, resp, 200, "fwd=stale", "fwd-status=503", "stale-if-error")
	if body != "v1" {
		t.Errorf("body %q, want the stale v1", body)
	}
	c.Advance(31 * time.Second) // 61s after the purge, the object itself still fresh
	resp, _ = e.get(t, "/obj", site...)
	wantStatus(t, resp, 503, "fwd=stale", "fwd-status=503")
}

// TestPurgeMethodBehindTrustedProxy is the attack of a client behind the
// node's load balancer (server.trusted_proxies): PURGE was judged by the
// socket peer, always the load balancer, so an operator who listed its
// network in purge.method_from (the one way to let a purger through it)
// let every client through it purge, and one who listed the purger's own
// address was never obeyed. The client the trusted proxy names is judged
// now, as access rules and rate limits judge it.
func TestPurgeMethodBehindTrustedProxy(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static("x", "Cache-Control", "max-age=60"))
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	p := &recordingPurger{}
	e.handler.opts.Purger = p
	e.handler.opts.ClientIP = clientip.New(clientip.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})

	e.handler.opts.PurgeFrom = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} // the load balancer's network
	if resp, body := e.do(t, methodPurge, "/p", "X-Forwarded-For", "198.51.100.7"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("PURGE from an outside client through the load balancer: %d %q, want 403", resp.StatusCode, body)
	}
	if len(p.urls) != 0 {
		t.Fatalf("purged %q", p.urls)
	}
	e.handler.opts.PurgeFrom = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")} // the purger's own
	if resp, body := e.do(t, methodPurge, "/p", "X-Forwarded-For", "203.0.113.9"); resp.StatusCode != http.StatusOK {
		t.Errorf("PURGE from the allowed purger through the load balancer: %d %q, want 200", resp.StatusCode, body)
	}
	if resp, body := e.do(t, methodPurge, "/p", "X-Forwarded-For", "198.51.100.7"); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "198.51.100.7") {
		t.Errorf("PURGE from another client: %d %q, want 403 naming it", resp.StatusCode, body)
	}
	if len(p.urls) != 1 {
		t.Errorf("purged %q, want one URL", p.urls)
	}
}
