package forward

import (
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"edged/edge/forward/rules"
)

// BenchmarkForwardHit: 1 KiB cache hits through the real listener, with
// the access log on (what make bench's forward scenario measures; profile
// it with -cpuprofile to find per-request waste on the hit path).
func BenchmarkForwardHit(b *testing.B) {
	body := strings.Repeat("x", 1024)
	o := newOrigin(b, false, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		io.WriteString(w, body)
	})
	s := newStack(b, stackConfig{})
	c := s.client(nil, "", "")
	url := o.URL + "/hit"
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		resp, err := c.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// BenchmarkForwardOverhead: what the proxy itself adds to a hit, without
// the network and the cache: ServeHTTP in front of a handler that answers
// 1 KiB at once, for a typical browser request (named host and literal
// address), no access log, an empty rules engine, as make bench runs it.
func BenchmarkForwardOverhead(b *testing.B) {
	body := []byte(strings.Repeat("x", 1024))
	cache := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Status", "edged-forward; hit")
		_, _ = w.Write(body)
	})
	public := netip.MustParseAddr("93.184.215.14")
	d := NewDialer(DialerOptions{Resolver: newRebinder(b, public, public).resolver()})
	d.RefuseListener(&net.TCPAddr{IP: net.IPv4zero, Port: 3128})
	engine, err := rules.New(rules.Options{}, nil) // edged always runs an engine, empty without rules
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = engine.Close() })
	p, err := New(Options{Cache: cache, Dialer: d, Rules: engine, Clients: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	// "cache alone" is the harness and the stub without the proxy: the
	// proxy's cost is the difference.
	for _, target := range []string{"cache alone", "http://example.com/obj/1024", "http://93.184.215.14/obj/1024"} {
		var h http.Handler = p
		var name string
		if target == "cache alone" {
			h, target, name = cache, "http://example.com/obj/1024", "cache-alone"
		} else {
			name = strings.SplitN(target, "/", 4)[2]
		}
		b.Run(name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, target, nil)
			req.RemoteAddr = "10.1.2.3:50000"
			tmpl := http.Header{"User-Agent": {"bench"}, "Accept": {"*/*"}, "Proxy-Connection": {"keep-alive"}, "X-Forwarded-For": {"10.9.9.9"}}
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			cpu := processCPU()
			for b.Loop() {
				req.Header = maps.Clone(tmpl)
				clear(w.h)
				h.ServeHTTP(w, req)
			}
			// CPU time rather than wall time: on a shared machine the
			// wall clock counts other processes' turns too.
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
			if w.status != http.StatusOK {
				b.Fatalf("status %d", w.status)
			}
		})
	}
}

// discardWriter is a ResponseWriter that keeps nothing but the status.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }
func (w *discardWriter) Write(p []byte) (int, error) { w.status = http.StatusOK; return len(p), nil }

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
