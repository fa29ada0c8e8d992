package edge

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// The keys remembered as uncacheable (10 s) and too large (10 min) cost a
// few bytes each whatever their length. Before, each mark kept its whole
// storage key: up to 65,536 of them per set, each as long as a request
// target may be (server.max_header_bytes, 64 KiB), some 4 GiB per set
// outside every budget of cache.memory. A client asking for a large file
// under made-up query strings (which a static origin ignores), or any
// private page under long URLs, grew the node by the length of its URLs.
func TestLongKeysMarkedWithinBound(t *testing.T) {
	const (
		maxObject = 16 << 10
		pathLen   = 48 << 10
		requests  = 300 // of each kind: 2 × 300 × 48 KiB = 28 MiB of keys
	)
	big := strings.Repeat("b", maxObject+1)
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/large/") {
			// Over MaxObjectBytes by its Content-Length: marked too large.
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			_, _ = io.WriteString(w, big)
			return
		}
		w.Header().Set("Cache-Control", "private") // marked uncacheable
		_, _ = io.WriteString(w, "mine")
	}))
	t.Cleanup(o.Close)
	c := newClock() // stands still: no mark expires during the test
	e := newEdge(t, c, edgeConfig{upstream: o.URL, maxObject: maxObject})
	pad := strings.Repeat("p", pathLen)
	get := func(path string) {
		resp, err := http.Get(e.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %.40s...: status %d", path, resp.StatusCode)
		}
	}
	// The first requests warm up pools and buffers, which are not what is
	// measured.
	for i := range 20 {
		get("/private/" + pad + strconv.Itoa(i))
		get("/large/" + pad + "?" + strconv.Itoa(i))
	}
	before := liveHeap()
	for i := 20; i < 20+requests; i++ {
		get("/private/" + pad + strconv.Itoa(i))
		get("/large/" + pad + "?" + strconv.Itoa(i))
	}
	e.settle(t)
	e.waitTasks(t)
	if n := e.handler.uncacheable.order.Len(); n < requests {
		t.Fatalf("%d keys marked uncacheable, want at least %d: the test no longer marks", n, requests)
	}
	if n := e.handler.tooLarge.order.Len(); n < requests {
		t.Fatalf("%d keys marked too large, want at least %d: the test no longer marks", n, requests)
	}
	grown := int64(liveHeap()) - int64(before)
	t.Logf("live heap grew by %d KiB for %d marks of %d KiB keys", grown>>10, 2*requests, pathLen>>10)
	if grown > 4<<20 {
		t.Errorf("live heap grew by %d MiB for %d marked keys of %d KiB: the marks keep their keys", grown>>20, 2*requests, pathLen>>10)
	}
}

// liveHeap is the bytes of live heap objects after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
