package edge

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// A fill that would take the bodies held in memory past Options.BodyMemory
// is streamed to its client whole and not stored; once the budget has room
// again the object is stored as usual.
func TestFillPastBodyBudgetPassesThrough(t *testing.T) {
	c := newClock()
	const heldSize, bigSize = 512 << 10, 768 << 10
	gate, started := newGate(), make(chan struct{})
	var bigFetches atomic.Int64
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		switch r.URL.Path {
		case "/held":
			writeHeld(w, heldSize, started, gate)
		case "/big":
			bigFetches.Add(1)
			// Of known length: the fill asks the budget for all of it at
			// once, and Cache-Status says why it was not stored (one of
			// unknown length is streamed before it is known not to fit).
			w.Header().Set("Content-Length", strconv.Itoa(bigSize))
			_, _ = w.Write(bytes.Repeat([]byte("b"), bigSize))
		}
	})
	t.Cleanup(gate.open)
	e := newEdge(t, c, edgeConfig{upstream: o.URL, bodyMemory: 1 << 20})

	heldDone := make(chan string, 1)
	go func() {
		resp, err := http.Get(e.URL + "/held")
		if err != nil {
			heldDone <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		heldDone <- strconv.Itoa(len(b))
	}()
	<-started
	// The origin has sent half of /held; the fill holds its share of the
	// 1 MiB budget once the edge has read the response's head (its
	// Content-Length, 512 KiB). Until then /big would fit, and be stored.
	waitFor(t, func() bool { return e.handler.bodies.used.Load() >= heldSize })

	for i := range 2 {
		resp, body := e.get(t, "/big")
		if resp.StatusCode != http.StatusOK || len(body) != bigSize {
			t.Fatalf("GET /big #%d: %d, %d bytes; want 200 with the whole body", i, resp.StatusCode, len(body))
		}
		if cs := cacheStatus(resp); !strings.Contains(cs, "detail=memory-budget") {
			t.Fatalf("GET /big #%d Cache-Status = %q, want detail=memory-budget", i, cs)
		}
	}
	if n := bigFetches.Load(); n != 2 {
		t.Fatalf("origin fetches of /big = %d, want 2 (passed through, not stored)", n)
	}
	gate.open()
	if got := <-heldDone; got != strconv.Itoa(heldSize) {
		t.Fatalf("GET /held: %s", got)
	}
	e.get(t, "/big") // the budget has room: stored
	e.settle(t)
	if resp, _ := e.get(t, "/big"); !isHit(resp) {
		t.Fatalf("GET /big after the budget freed: Cache-Status %q, want a hit", cacheStatus(resp))
	}
	if used := e.handler.bodies.used.Load(); used != 0 {
		t.Fatalf("budget still holds %d bytes after every fill ended", used)
	}
}

// A client that stops reading is cut once WriteTimeout passes without it
// accepting the next part of the body, so it cannot pin the object (or its
// connection) for as long as it likes.
func TestWriteTimeoutCutsStalledClient(t *testing.T) {
	c := newClock()
	const size = 8 << 20 // more than the socket buffers hold (the client's is small)
	o := newOrigin(t, c, static(strings.Repeat("s", size), "Cache-Control", "max-age=60"))
	e := newEdge(t, c, edgeConfig{upstream: o.URL, writeTimeout: time.Second})

	conn, err := (&net.Dialer{Control: smallReadBuffer}).Dial("tcp", e.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /large HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// The client reads nothing until the handler has given up on it.
	waitFor(t, func() bool { return outcomeCount(e.handler, outcomeMiss) >= 1 })
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil || n >= size {
		t.Fatalf("stalled client read %d of %d bytes, err %v; want the response cut short", n, size, err)
	}
}

// A client that reads steadily, however slowly overall, is never cut: the
// deadline moves with each part of the body it accepts.
func TestWriteTimeoutKeepsSteadyClient(t *testing.T) {
	c := newClock()
	const size = 2 << 20
	o := newOrigin(t, c, static(strings.Repeat("s", size), "Cache-Control", "max-age=60"))
	e := newEdge(t, c, edgeConfig{upstream: o.URL, writeTimeout: 500 * time.Millisecond})
	for i := range 2 { // a miss, then a hit
		conn, err := (&net.Dialer{Control: smallReadBuffer}).Dial("tcp", e.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(conn, "GET /steady HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		var got int
		buf := make([]byte, 16<<10)
		for {
			m, err := resp.Body.Read(buf)
			got += m
			if err != nil {
				break
			}
			// The slowness is what is tested, so it is a real sleep:
			// ~3 MB/s at most, slower than the server writes, each read
			// well within the write timeout.
			time.Sleep(5 * time.Millisecond)
		}
		conn.Close()
		if got != size {
			t.Fatalf("request %d: steady client got %d of %d bytes", i, got, size)
		}
	}
}

// smallReadBuffer shrinks a client socket's receive buffer, so that the
// server's writes wait for the client's reads.
func smallReadBuffer(_, _ string, rc syscall.RawConn) error {
	var err error
	_ = rc.Control(func(fd uintptr) {
		err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
	})
	return err
}

// writeHeld answers size bytes, the second half once g is opened: started
// is closed when the first half is sent, and a fill reading the response
// meanwhile holds size bytes of the body budget (its Content-Length).
func writeHeld(w http.ResponseWriter, size int, started chan<- struct{}, g *gate) {
	w.Header().Set("Content-Length", strconv.Itoa(size))
	_, _ = w.Write(make([]byte, size/2))
	http.NewResponseController(w).Flush()
	close(started)
	g.wait()
	_, _ = w.Write(make([]byte, size/2))
}
