package edge

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"edged/edge/fastserve"
	"edged/edge/strictconn"
	"edged/internal/benchcpu"
	"edged/origin"
	"edged/storage"
)

// missSetup is an edge in front of a loopback origin, both real
// http.Servers, the edge's disk tier a bbolt file in a temporary directory
// (fsync and all), and one keep-alive client connection to the edge.
type missSetup struct {
	conn  net.Conn
	br    *bufio.Reader
	store *storage.Store
	size  int
}

func newMissSetup(tb testing.TB, size int, server string) *missSetup {
	tb.Helper()
	body := strings.Repeat("edged caches this text. ", size/24+1)[:size]
	// The origin answers as bench/cmd/benchorigin does: a cacheable body
	// with a Date, a Content-Length and a type.
	o := &http.Server{ErrorLog: log.New(io.Discard, "", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Cache-Control"] = []string{"public, max-age=3600"}
		h["Content-Type"] = []string{"application/octet-stream"}
		h["Content-Length"] = []string{strconv.Itoa(len(body))}
		_, _ = io.WriteString(w, body)
	})}
	oln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go func() { _ = o.Serve(oln) }()
	tb.Cleanup(func() { o.Close() })
	store, err := storage.Open(storage.Options{Dir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	reg := prometheus.NewRegistry() // as edged runs: metrics on
	up, err := origin.New(origin.Options{Origin: "http://" + oln.Addr().String(), Via: "edged", Registerer: reg})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { up.Close() })
	h, err := New(Options{Name: "edged", Store: store, Upstream: up, Registerer: reg})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { closeHandler(tb, h) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	quiet := log.New(io.Discard, "", 0)
	srv := &http.Server{Handler: h, ErrorLog: quiet}
	if server == "fastserve" {
		fs := &fastserve.Server{Handler: h, ErrorLog: quiet}
		go func() { _ = srv.Serve(strictconn.WrapListener(fs.Handoffs(), 0)) }()
		go func() { _ = fs.Serve(ln) }()
		tb.Cleanup(func() { fs.Close() })
	} else {
		go func() { _ = srv.Serve(strictconn.WrapListener(ln, 0)) }()
	}
	tb.Cleanup(func() { srv.Close() })
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return &missSetup{conn: conn, br: bufio.NewReaderSize(conn, 64<<10), store: store, size: size}
}

// miss asks for a URL nobody asked for before and checks the answer is a
// stored miss of the whole body.
func (s *missSetup) miss(i int, buf []byte) error {
	buf = fmt.Appendf(buf[:0], "GET /obj/%d HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n", i)
	if _, err := s.conn.Write(buf); err != nil {
		return err
	}
	stored := false
	for {
		line, err := s.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		stored = stored || (bytes.HasPrefix(line, []byte("Cache-Status: edged; fwd=uri-miss")) && bytes.Contains(line, []byte("stored")))
	}
	if !stored {
		return fmt.Errorf("request %d: not a stored miss", i)
	}
	_, err := s.br.Discard(s.size)
	return err
}

// BenchmarkMissServer is a 1 KiB miss of a URL never asked for before,
// through real loopback listeners: client → edge (net/http behind
// strictconn, or edge/fastserve in front of it as the binary serves it) →
// origin, stored in both tiers, one request at a time, as edgebench's
// "miss 1 KiB (unique URLs), 1 conn". ns/op is the latency of
// one miss; cpu-µs/op is the CPU of the whole process per miss (client,
// edge, origin and the disk writer's commits); allocs include the
// client's and the origin's (net/http's requests and header maps).
func BenchmarkMissServer(b *testing.B) {
	for _, server := range []string{"nethttp", "fastserve"} {
		b.Run(server, func(b *testing.B) { benchmarkMissServer(b, server) })
	}
}

func benchmarkMissServer(b *testing.B, server string) {
	s := newMissSetup(b, 1<<10, server)
	var buf []byte
	b.SetBytes(int64(s.size))
	b.ReportAllocs()
	i := 0
	report := benchcpu.Start(b)
	for b.Loop() {
		i++
		if err := s.miss(i, buf); err != nil {
			b.Fatal(err)
		}
	}
	s.store.Flush() // the disk writes of the misses are part of their cost
	report(i)
}
