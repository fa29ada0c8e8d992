package fastserve

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// ctxHandler tells, for each request, what became of its context.
type ctxHandler struct {
	started chan string // the path, once the handler runs
	result  chan string // what the handler saw of its context
	release chan struct{}
}

func newCtxHandler() *ctxHandler {
	return &ctxHandler{started: make(chan string, 16), result: make(chan string, 16), release: make(chan struct{})}
}

func (h *ctxHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	switch r.URL.Path {
	case "/wait": // a miss waiting on a slow origin
		h.started <- r.URL.Path
		select {
		case <-ctx.Done():
			h.result <- "cancelled"
		case <-h.release:
			h.result <- "released"
		}
	case "/abort": // a body broken mid-stream, with a fetch still watching the context
		done := ctx.Done()
		go func() {
			<-done
			h.result <- "cancelled"
		}()
		_, _ = io.WriteString(w, "partial")
		panic(http.ErrAbortHandler)
	case "/stream": // writes until the client is gone, never looking at the context
		h.started <- r.URL.Path
		chunk := make([]byte, 64<<10)
		for {
			if _, err := w.Write(chunk); err != nil {
				break
			}
		}
		if ctx.Err() != nil {
			h.result <- "cancelled"
		} else {
			h.result <- "not cancelled"
		}
	case "/derived": // contexts derived and dropped, as middleware does
		sub, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		context.AfterFunc(sub, func() {}) // left to run when the request ends
		_, _ = io.WriteString(w, "ok")
	default:
		_, _ = io.WriteString(w, "ok")
	}
}

// outcome waits for the handler's report on its context.
func (h *ctxHandler) outcome(t *testing.T) string {
	t.Helper()
	select {
	case s := <-h.result:
		return s
	case <-time.After(10 * time.Second):
		return "no outcome in 10s"
	}
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c.(*net.TCPConn)
}

// bothServers runs f against net/http alone, then against a Server in
// front of it: a client must see the same.
func bothServers(t *testing.T, h http.Handler, f func(t *testing.T, addr string)) {
	p := newPairWith(t, h)
	t.Run("net/http", func(t *testing.T) { f(t, p.plain) })
	t.Run("fastserve", func(t *testing.T) { f(t, p.fast) })
}

// TestContextCancelledWhenClientLeaves: a handler waiting on its context
// learns of the client's disconnect (a reset), whether or not the next
// request was pipelined behind its own; one whose client stays, with or
// without a pipelined request, is not cancelled (RFC 9112 §9.3.2 allows
// pipelining), and neither is one whose client half-closed its side (RFC
// 9112 §9.6): that client gets its answer, and its pipelined request's.
// Through net/http as the binary runs it (halfclose) and through
// fastserve; bare net/http cancels on the half-close.
func TestContextCancelledWhenClientLeaves(t *testing.T) {
	h := newCtxHandler()
	bothServers(t, h, func(t *testing.T, addr string) {
		for _, raw := range []string{get("/wait"), get("/wait") + get("/next")} {
			c := dial(t, addr)
			_, _ = io.WriteString(c, raw)
			<-h.started
			_ = c.SetLinger(0) // a reset
			_ = c.Close()
			if got := h.outcome(t); got != "cancelled" {
				t.Errorf("%q, client gone: %s", raw, got)
			}

			c = dial(t, addr)
			_, _ = io.WriteString(c, raw)
			<-h.started
			_, _ = io.WriteString(c, get("/later")) // more requests are no disconnect
			h.release <- struct{}{}
			if got := h.outcome(t); got != "released" {
				t.Errorf("%q, client there: %s", raw, got)
			}
			_ = c.Close()

			c = dial(t, addr)
			_, _ = io.WriteString(c, raw)
			<-h.started
			_ = c.CloseWrite() // nc -N: the request is all it sends
			// Nothing is to happen: give the watch (fastserve's starts
			// 2 ms after the handler waits) time to see the end of stream.
			select {
			case got := <-h.result:
				t.Fatalf("%q, client half-closed: %s before its answer", raw, got)
			case <-time.After(100 * time.Millisecond):
			}
			h.release <- struct{}{}
			if got := h.outcome(t); got != "released" {
				t.Errorf("%q, client half-closed: %s", raw, got)
			}
			b, err := io.ReadAll(c)
			if want := strings.Count(raw, "GET"); strings.Count(string(b), "200 OK") != want {
				t.Errorf("%q, client half-closed: read %q (%v), want %d answers", raw, b, err, want)
			}
		}
	})
}

// TestContextCancelledAfterPanic: a handler that aborts
// (http.ErrAbortHandler) after something started watching its context
// leaves that watch cancelled, as net/http does, not waiting forever.
func TestContextCancelledAfterPanic(t *testing.T) {
	h := newCtxHandler()
	bothServers(t, h, func(t *testing.T, addr string) {
		c := dial(t, addr)
		_, _ = io.WriteString(c, get("/abort"))
		if got := h.outcome(t); got != "cancelled" {
			t.Errorf("after the abort: %s", got)
		}
		b, _ := io.ReadAll(c)
		if strings.Contains(string(b), "partial") {
			t.Errorf("an aborted response went out: %q", b)
		}
	})
}

// TestContextCancelledOnWriteError: a handler that never looks at its
// context until its writes fail then finds it cancelled, as net/http's
// (its connection writer cancels on the first error).
func TestContextCancelledOnWriteError(t *testing.T) {
	h := newCtxHandler()
	bothServers(t, h, func(t *testing.T, addr string) {
		for _, raw := range []string{get("/stream"), get("/stream") + get("/next")} {
			c := dial(t, addr)
			_, _ = io.WriteString(c, raw)
			<-h.started
			_ = c.SetLinger(0) // a reset: the server's writes fail
			_ = c.Close()
			if got := h.outcome(t); got != "cancelled" {
				t.Errorf("%q: %s", raw, got)
			}
		}
	})
}

// TestNoGoroutineLeft: the watch each request's context starts, and the
// contexts handlers derive from it, end with the request.
func TestNoGoroutineLeft(t *testing.T) {
	h := newCtxHandler()
	p := newPairWith(t, h)
	c := dial(t, p.fast)
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	round := func() {
		var b strings.Builder
		for range 10 {
			b.WriteString(get("/derived"))
		}
		_, _ = io.WriteString(c, b.String())
		resp := make([]byte, 0, 4096)
		for strings.Count(string(resp), "\r\n\r\nok") < 10 {
			buf := make([]byte, 4096)
			n, err := c.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			resp = append(resp, buf[:n]...)
		}
	}
	round() // the connection's own goroutine is running from here
	before := runtime.NumGoroutine()
	for range 20 {
		round()
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after 200 requests, %d before", n, before)
	}
}

// countingListener counts the reads of the connections it accepts.
type countingListener struct {
	net.Listener
	reads atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, reads: &l.reads}, nil
}

type countingConn struct {
	net.Conn
	reads *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	c.reads.Add(1)
	return c.Conn.Read(p)
}

// TestShortWaitReadsNothing: a handler that waits on its context and is
// done before watchDelay (a miss whose fetch is quick) costs no read of
// the connection, so no goroutine and no read(2) to end; one that waits
// longer gets the watch, and learns of its client leaving
// (TestContextCancelledWhenClientLeaves).
func TestShortWaitReadsNothing(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/done" {
			select {
			case <-r.Context().Done():
			default:
			}
		}
		_, _ = io.WriteString(w, "ok")
	})
	reads := func(path string) int64 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cl := &countingListener{Listener: ln}
		s := &Server{Handler: h, watchDelay: time.Hour} // never, within a test
		go func() { _ = s.Serve(cl) }()
		t.Cleanup(func() { _ = s.Close() })
		c := dial(t, ln.Addr().String())
		br := bufio.NewReader(c)
		for range 20 {
			_, _ = io.WriteString(c, get(path))
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
		return cl.reads.Load()
	}
	// Whether the server has entered its read of a 21st request when the
	// count is taken is timing: the counts may differ by that one read.
	// A watch started per request would add 20.
	plain, waited := reads("/plain"), reads("/done")
	if waited > plain+1 || plain > waited+1 {
		t.Errorf("20 requests read the connection %d times with Done called, %d without; want the same, within one", waited, plain)
	}
}
