package edge

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"edged/origin"
	"edged/storage"
)

// discardWriter is the cheapest http.ResponseWriter, so the benchmark
// measures the handler rather than a recorder.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

// benchmarkHit measures a cache hit served by ServeHTTP, from the memory
// tier or (memory disabled) the disk tier.
func benchmarkHit(b *testing.B, size int, memory int64) {
	c := newClock()
	body := strings.Repeat("x", size)
	o := newOrigin(b, c, static(body, "Cache-Control", "max-age=3600", "Content-Type", "text/plain"))
	store, err := storage.Open(storage.Options{Dir: b.TempDir(), MemoryBytes: memory, Now: c.Now})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	up, err := origin.New(origin.Options{Origin: o.URL, Via: "edged"})
	if err != nil {
		b.Fatal(err)
	}
	h, err := New(Options{Name: "edged", Store: store, Upstream: up, Now: c.Now})
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "http://www.example.com/obj", nil)
	h.ServeHTTP(&discardWriter{h: http.Header{}}, req)
	store.Flush()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w := &discardWriter{h: make(http.Header, 8)}
		h.ServeHTTP(w, req)
	}
	b.StopTimer()
	if o.requests.Load() != 1 {
		b.Fatalf("origin requests = %d, want 1", o.requests.Load())
	}
}

func BenchmarkHit(b *testing.B) {
	for _, size := range []int{1 << 10, 100 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("memory/%dKiB", size>>10), func(b *testing.B) { benchmarkHit(b, size, 0) })
		b.Run(fmt.Sprintf("disk/%dKiB", size>>10), func(b *testing.B) { benchmarkHit(b, size, -1) })
	}
}

// A memory hit's allocations are budgeted, so a change that adds work to the
// hit path shows up here rather than only in a benchmark nobody reruns.
func TestHitAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation budget")
	}
	c := newClock()
	o := newOrigin(t, c, static(strings.Repeat("x", 1024), "Cache-Control", "max-age=3600", "Content-Type", "text/plain"))
	store, err := storage.Open(storage.Options{Dir: t.TempDir(), Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	up, err := origin.New(origin.Options{Origin: o.URL, Via: "edged"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Options{Name: "edged", Store: store, Upstream: up, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "http://www.example.com/obj", nil)
	h.ServeHTTP(&discardWriter{h: http.Header{}}, req)
	store.Flush()
	const budget = 13 // measured: tracked writer, exchange, key, Cache-Status, header map growth
	got := testing.AllocsPerRun(200, func() {
		h.ServeHTTP(&discardWriter{h: make(http.Header, 8)}, req)
	})
	if got > budget {
		t.Errorf("a memory hit allocates %.0f times, budget %d", got, budget)
	}
}
