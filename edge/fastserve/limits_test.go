package fastserve

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// allocated is how many bytes f allocates.
func allocated(f func()) uint64 {
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	f()
	runtime.ReadMemStats(&m1)
	return m1.TotalAlloc - m0.TotalAlloc
}

// TestManyFieldsCostAsInNetHTTP: a head of up to MaxHeaderBytes made of
// tiny fields costs no more memory to read here than in net/http. The
// field map and values were once sized for every line of the head: a
// head of one name repeated cost twice net/http's memory, an
// amplification any client could use.
func TestManyFieldsCostAsInNetHTTP(t *testing.T) {
	for _, shape := range []string{"one name", "1000 names", "all distinct"} {
		var b strings.Builder
		b.WriteString("GET / HTTP/1.1\r\nHost: a\r\n")
		for i := 0; b.Len() < 256<<10; i++ {
			switch shape {
			case "one name":
				b.WriteString("a:\r\n")
			case "1000 names":
				fmt.Fprintf(&b, "x%d:\r\n", i%1000)
			default:
				fmt.Fprintf(&b, "x%d:\r\n", i)
			}
		}
		b.WriteString("\r\n")
		head := []byte(b.String())
		here := allocated(func() {
			if _, ok := parseHead(head); !ok {
				t.Fatal("not served")
			}
		})
		std := allocated(func() {
			if _, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head))); err != nil {
				t.Fatal(err)
			}
		})
		if here > std+std/4 {
			t.Errorf("%s: %d KiB to read %d KiB of head, net/http %d KiB", shape, here>>10, len(head)>>10, std>>10)
		}
	}
}

// serveFast serves h through a Server with the given timeouts, in front
// of an http.Server with the same.
func serveFast(t *testing.T, h http.Handler, readHeader, idle time.Duration) (string, *Server) {
	t.Helper()
	quiet := log.New(io.Discard, "", 0)
	ln := listen(t)
	fs := &Server{Handler: h, ErrorLog: quiet, ReadHeaderTimeout: readHeader, IdleTimeout: idle}
	behind := &http.Server{Handler: h, ErrorLog: quiet, ReadHeaderTimeout: readHeader, IdleTimeout: idle}
	go func() { _ = behind.Serve(fs.Handoffs()) }()
	go func() { _ = fs.Serve(ln) }()
	t.Cleanup(func() { _ = fs.Close(); _ = behind.Close() })
	return ln.Addr().String(), fs
}

// readResponse reads one response to a GET from br.
func readResponse(t *testing.T, br *bufio.Reader) *http.Response {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestSlowHeadTimesOut: a head trickled a byte at a time (slowloris) is
// cut off ReadHeaderTimeout after its first byte, whether it is the
// connection's first request, one after a response, one pipelined behind
// another, or one after a handler watched its context (which lifts the
// read deadline while it runs). IdleTimeout is long: only the header
// timeout can end it.
func TestSlowHeadTimesOut(t *testing.T) {
	h := newCtxHandler()
	addr, _ := serveFast(t, h, 200*time.Millisecond, time.Hour)
	for _, before := range []string{"", get("/"), get("/") + "GET / HTTP/1.1\r\n", get("/derived")} {
		c := dial(t, addr)
		_ = c.SetDeadline(time.Now().Add(time.Minute))
		br := bufio.NewReader(c)
		_, _ = io.WriteString(c, before)
		for range strings.Count(before, "Host:") {
			readResponse(t, br)
		}
		closed := make(chan struct{})
		go func() {
			defer close(closed)
			_, _ = io.Copy(io.Discard, br)
		}()
		_, _ = io.WriteString(c, "GET /slow HTTP/1.1\r\n")
		trickled := 0
	trickle:
		for ; trickled < 250; trickled++ { // 5 s: 25 timeouts
			select {
			case <-closed:
				break trickle
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := io.WriteString(c, "X"); err != nil {
				break
			}
		}
		select {
		case <-closed:
		default:
			t.Fatalf("after %q: a head trickled for %d bytes is still read", before, trickled)
		}
	}
}

// TestIdleTimeout: a connection waiting for its next request is closed
// after IdleTimeout (also after a handler lifted the read deadline to
// watch its context), and the wait does not count against the next
// head's ReadHeaderTimeout, as in net/http.
func TestIdleTimeout(t *testing.T) {
	h := newCtxHandler()
	addr, _ := serveFast(t, h, time.Hour, 100*time.Millisecond)
	for _, path := range []string{"/", "/derived"} {
		c := dial(t, addr)
		_, _ = io.WriteString(c, get(path))
		br := bufio.NewReader(c)
		readResponse(t, br)
		if _, err := br.ReadByte(); err == nil || isTimeout(err) {
			t.Fatalf("after %s: %v, want the server's close", path, err)
		}
	}

	addr, _ = serveFast(t, h, 100*time.Millisecond, time.Hour)
	c := dial(t, addr)
	br := bufio.NewReader(c)
	_, _ = io.WriteString(c, get("/derived"))
	readResponse(t, br)
	time.Sleep(300 * time.Millisecond) // idle for three header timeouts
	_, _ = io.WriteString(c, get("/"))
	readResponse(t, br)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// headOf is a GET whose head is n bytes long.
func headOf(n int) string {
	h := get("/empty", "X-Pad: ")
	h = h[:len(h)-2] // the blank line comes after the padding
	return h + strings.Repeat("p", max(0, n-len(h)-4)) + "\r\n\r\n"
}

// TestLongHeads: heads about MaxHeaderBytes long are answered as net/http
// answers them (served, or 431), and a connection that read one keeps no
// buffer its size once idle.
func TestLongHeads(t *testing.T) {
	const limit = 64 << 10
	p := newPairWith(t, &echoHandler{}, limit)
	for _, n := range []int{limit - 1, limit, limit + 1, limit + 4096, limit + 4097, limit + 8192, 2 * limit} {
		if got := p.same(t, headOf(n)+get("/")); !strings.Contains(got, "200 OK") && !strings.Contains(got, "431") {
			t.Errorf("a head of %d bytes: %s", n, got)
		}
	}

	const conns = 100
	before := inUse()
	for range conns { // kept open until the test ends
		c := dial(t, p.fast)
		_, _ = io.WriteString(c, headOf(limit/2))
		readResponse(t, bufio.NewReader(c))
	}
	if per := (int64(inUse()) - int64(before)) / conns; per > limit/4 {
		t.Errorf("%d bytes in use per idle connection after a long head", per)
	}
}

// inUse is the memory the heap and the stacks hold.
func inUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// TestIdleConnMemory: an idle keep-alive connection costs less here than
// in net/http (net/http keeps a 4 KiB reader and a 4 KiB writer per
// connection).
func TestIdleConnMemory(t *testing.T) {
	p := newPair(t)
	const conns = 300
	perConn := func(addr string) int64 {
		before := inUse()
		for range conns {
			c := dial(t, addr)
			_, _ = io.WriteString(c, get("/big"))
			readResponse(t, bufio.NewReader(c))
		}
		return (int64(inUse()) - int64(before)) / conns
	}
	plain, fast := perConn(p.plain), perConn(p.fast)
	t.Logf("bytes per idle connection: net/http %d, fastserve %d", plain, fast)
	if fast > plain {
		t.Errorf("an idle connection costs %d bytes, %d in net/http", fast, plain)
	}
}
