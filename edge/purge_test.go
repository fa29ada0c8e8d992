package edge

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

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

// An object whose fetch began before a purge and ended after it is not
// stored as fresh: the next request revalidates it.
func TestPurgeDuringFill(t *testing.T) {
	c := newClock()
	release := newGate()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Slow") != "" {
			release.wait()
		}
		w.Header().Set("Cache-Control", "max-age=600")
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
	resp, _ := e.get(t, "/racing", "Host", "h.example")
	if isHit(resp) {
		t.Errorf("a response fetched across a purge was served as fresh: %q", resp.Header.Get("Cache-Status"))
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
