package edge

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"edged/edge/accesslog"
	"edged/edge/compress"
	"edged/edge/fastserve"
	"edged/edge/strictconn"
	"edged/edge/waf"
	"edged/origin"
	"edged/storage"
)

// discardWriter is the cheapest http.ResponseWriter. A benchmark reuses
// one, clearing its header map between requests, so that what it counts is
// the handler's work alone: net/http's own per-response header map and
// request are not the handler's to save.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

// hitSetup is a handler holding one stored object, and a request that hits it.
type hitSetup struct {
	h      *Handler
	req    *http.Request
	origin *testOrigin
}

// hitKind says how the stored object is reached.
type hitKind struct {
	name     string
	diskOnly bool   // Options.NoMemoryTier: no memory tier, every hit from disk
	compress bool   // the handler compresses, and the client accepts br
	identity bool   // the handler compresses, and the client accepts no coding (as wrk asks)
	inm      string // If-None-Match of the request: a 304 from the cache
	upstream string // Cache-Status of the origin's response: a cache behind a shield
	routed   bool   // through a Router whose site and route add response fields
	logged   bool   // with an access log (JSON lines to io.Discard, buffered)
	logFile  bool   // with logged: the lines go to a file, as the binary writes them
	waf      bool   // routed, and the route has a blocking WAF (paranoia 1)
	// registered: the metrics are registered on a Prometheus registry.
	registered bool
	// realClock: the handler and the store read time.Now, as the binary
	// does, not the test clock, whose lock every request would share.
	realClock bool
}

var hitKinds = []hitKind{
	{name: "memory"},
	{name: "disk", diskOnly: true},
	{name: "memory-br", compress: true},
	{name: "memory-304", inm: `"v1"`},
	{name: "memory-shield", upstream: "shield; hit; ttl=100"},
	{name: "memory-routed", routed: true},
	{name: "memory-logged", logged: true},
	// What the benchmarked binary does for a plain GET (make bench, "edged
	// mem"): compression on, a client that asks for no coding (so Vary:
	// Accept-Encoding is added), the access log on, metrics registered.
	{name: "memory-node", identity: true, logged: true, registered: true},
}

func newHitSetup(tb testing.TB, size int, kind hitKind) *hitSetup {
	tb.Helper()
	c := newClock()
	body := strings.Repeat("edged caches this text. ", size/24+1)[:size]
	fields := []string{"Cache-Control", "max-age=3600", "Content-Type", "text/plain; charset=utf-8", "Etag", `"v1"`}
	if kind.upstream != "" {
		fields = append(fields, "Cache-Status", kind.upstream)
	}
	o := newOrigin(tb, c, static(body, fields...))
	now := c.Now
	if kind.realClock {
		now = nil
	}
	store, err := storage.Open(storage.Options{Dir: tb.TempDir(), NoMemoryTier: kind.diskOnly, Now: now})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	up, err := origin.New(origin.Options{Origin: o.URL, Via: "edged"})
	if err != nil {
		tb.Fatal(err)
	}
	opts := Options{Name: "edged", Store: store, Upstream: up, Now: now}
	if kind.routed {
		site := &Site{Name: "www", Hosts: []string{"www.example.com"},
			ResponseHeaders: HeaderRules{Set: map[string]string{"Strict-Transport-Security": "max-age=63072000"}},
			Routes: []*Route{{PathPrefix: "/", Upstream: up,
				ResponseHeaders: HeaderRules{Set: map[string]string{"X-Served-By": "edged"}, Remove: []string{"Server"}}}}}
		if kind.waf {
			site.Routes[0].WAF = mustWAF(tb, waf.Options{Mode: waf.ModeBlock})
		}
		if opts.Router, err = NewRouter([]*Site{site}); err != nil {
			tb.Fatal(err)
		}
		opts.Upstream = nil
	}
	if kind.logged {
		lo := accesslog.Options{Output: io.Discard}
		if kind.logFile {
			lo.File = filepath.Join(tb.TempDir(), "access.log")
		}
		w, err := accesslog.New(lo)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = w.Close() })
		opts.AccessLog = w
	}
	req := httptest.NewRequest(http.MethodGet, "http://www.example.com/obj", nil)
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) edged-bench")
	if kind.compress || kind.identity {
		if opts.Compression, err = compress.NewEncoder(compress.Options{}); err != nil {
			tb.Fatal(err)
		}
	}
	if kind.compress {
		req.Header.Set("Accept-Encoding", "gzip, deflate, br")
	}
	if kind.registered {
		opts.Registerer = prometheus.NewRegistry()
	}
	h, err := New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { closeHandler(tb, h) })
	// The first request fills the cache, the second stores the compressed
	// variant when there is one; the rest are hits.
	for range 2 {
		h.ServeHTTP(&discardWriter{h: http.Header{}}, req)
		store.Flush()
	}
	if kind.inm != "" {
		req.Header.Set("If-None-Match", kind.inm)
	}
	return &hitSetup{h: h, req: req, origin: o}
}

// serve answers the hit with w, reused.
func (s *hitSetup) serve(w *discardWriter) {
	clear(w.h)
	s.h.ServeHTTP(w, s.req)
}

// benchmarkHit measures cache hits served by ServeHTTP.
func benchmarkHit(b *testing.B, size int, kind hitKind) {
	s := newHitSetup(b, size, kind)
	w := &discardWriter{h: make(http.Header, 16)}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		s.serve(w)
	}
	if n := s.origin.requests.Load(); n != 1 {
		b.Fatalf("origin requests = %d, want 1", n)
	}
}

func BenchmarkHit(b *testing.B) {
	for _, size := range []int{1 << 10, 100 << 10, 1 << 20} {
		for _, kind := range hitKinds {
			b.Run(fmt.Sprintf("%s/%dKiB", kind.name, size>>10), func(b *testing.B) { benchmarkHit(b, size, kind) })
		}
	}
}

// A hit's allocations are budgeted, so a change that adds work to the hit
// path shows up here rather than only in a benchmark nobody reruns. The
// handler allocates nothing of its own on a memory hit: net/http's header
// map (cleared and reused here) and request are all a hit costs. A disk hit
// decodes the stored entry (storage's BenchmarkGetDisk).
func TestHitAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation budget")
	}
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items: budgets cannot hold")
	}
	for _, tc := range []struct {
		kind   hitKind
		budget float64
	}{
		{hitKinds[0], 0},
		{hitKinds[2], 0}, // the stored compressed variant
		{hitKinds[3], 0}, // a 304 to If-None-Match
		{hitKinds[4], 0}, // stored with the Cache-Status of a shield
		{hitKinds[5], 0}, // with a site's and a route's response fields
		{hitKinds[6], 0}, // with the access log on (#17)
		{hitKinds[7], 0}, // as the benchmarked node serves a plain GET
	} {
		t.Run(tc.kind.name, func(t *testing.T) {
			s := newHitSetup(t, 1024, tc.kind)
			w := &discardWriter{h: make(http.Header, 16)}
			s.serve(w) // warm the handler's pools and value caches
			if got, want := w.h.Get("Cache-Status"), "edged; hit; ttl="; !strings.HasPrefix(got, want) && !strings.Contains(got, ", "+want) {
				t.Fatalf("Cache-Status = %q, want a hit", got)
			}
			if got := w.h.Get("Cache-Status"); tc.kind.upstream != "" && !strings.HasPrefix(got, tc.kind.upstream+", ") {
				t.Fatalf("Cache-Status = %q, want the upstream member %q first", got, tc.kind.upstream)
			}
			if tc.kind.routed && (w.h.Get("X-Served-By") != "edged" || w.h.Get("Strict-Transport-Security") == "") {
				t.Fatalf("the site's and route's response fields are missing: %v", w.h)
			}
			if got := testing.AllocsPerRun(200, func() { s.serve(w) }); got > tc.budget {
				t.Errorf("a %s hit allocates %.1f times, budget %.0f", tc.kind.name, got, tc.budget)
			}
			if n := s.origin.requests.Load(); n != 1 {
				t.Errorf("origin requests = %d, want 1: not a hit", n)
			}
		})
	}
}

// BenchmarkHitServer is a memory hit through a real server over one
// keep-alive loopback connection, so that a CPU profile shows the handler
// beside the server: net/http behind strictconn.WrapListener, and
// edge/fastserve in front of them as the binary serves it. Its
// allocations include the server's own (the request, the header maps).
func BenchmarkHitServer(b *testing.B) {
	for _, server := range []string{"nethttp", "fastserve"} {
		for _, size := range []int{1 << 10, 100 << 10} {
			b.Run(fmt.Sprintf("%s/%dKiB", server, size>>10), func(b *testing.B) {
				benchmarkHitServer(b, server, size, hitKinds[0], 1)
			})
		}
	}
}

// BenchmarkHitServerLog is what the access log costs a 1 KiB memory hit
// served by fastserve (#17: at most 5%): the same hits with the log off and
// on (JSON lines to a file, as the binary writes them), over one connection
// and over 64 at once, where the requests' goroutines share the log.
// cpu-ns/op is the whole process's CPU time per request (the client's
// included, and the log's background writes, which ns/op does not see).
func BenchmarkHitServerLog(b *testing.B) {
	for _, conns := range []int{1, 64} {
		for _, kind := range []hitKind{{name: "off", realClock: true}, {name: "on", logged: true, logFile: true, realClock: true}} {
			b.Run(fmt.Sprintf("conns=%d/%s", conns, kind.name), func(b *testing.B) {
				benchmarkHitServer(b, "fastserve", 1<<10, kind, conns)
			})
		}
	}
}

// benchmarkHitServer serves hits of kind over conns keep-alive connections
// at once.
func benchmarkHitServer(b *testing.B, server string, size int, kind hitKind, conns int) {
	s := newHitSetup(b, size, kind)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	quiet := log.New(io.Discard, "", 0)
	srv := &http.Server{Handler: s.h, ErrorLog: quiet}
	if server == "fastserve" {
		fs := &fastserve.Server{Handler: s.h, ErrorLog: quiet}
		go func() { _ = srv.Serve(strictconn.WrapListener(fs.Handoffs(), 0)) }()
		go func() { _ = fs.Serve(ln) }()
		defer fs.Close()
	} else {
		go func() { _ = srv.Serve(strictconn.WrapListener(ln, 0)) }()
	}
	defer srv.Close()
	req := []byte("GET /obj HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	hits := func(next func() bool) error {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		defer conn.Close()
		br := bufio.NewReaderSize(conn, 64<<10)
		for next() {
			if _, err := conn.Write(req); err != nil {
				return err
			}
			if err := readHit(br, size); err != nil {
				return err
			}
		}
		return nil
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	cpu := processCPU(b)
	if conns == 1 {
		if err := hits(b.Loop); err != nil {
			b.Fatal(err)
		}
	} else {
		b.SetParallelism((conns + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) {
			if err := hits(pb.Next); err != nil {
				b.Error(err)
			}
		})
	}
	b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N), "cpu-ns/op")
}

// processCPU is the CPU time the process has used, user and system.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// readHit reads one response of a body of size bytes and checks it is a hit.
func readHit(br *bufio.Reader, size int) error {
	hit := false
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		hit = hit || bytes.HasPrefix(line, []byte("Cache-Status: edged; hit"))
	}
	if !hit {
		return errors.New("not a hit")
	}
	_, err := br.Discard(size)
	return err
}
