package fastserve

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

// TestCloseSlowHeadThenIdle: CloseSlowHead closes a connection reading a
// later request's head slowly (stateHead, timed from its first bytes) and
// leaves an idle keep-alive connection alone; CloseIdle then closes the
// idle one.
func TestCloseSlowHeadThenIdle(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	addr, fs := serveFast(t, h, time.Hour, time.Hour)
	served := func() (*net.TCPConn, *bufio.Reader) {
		c := dial(t, addr)
		br := bufio.NewReader(c)
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		if resp := readResponse(t, br); resp.StatusCode != 200 {
			t.Fatalf("GET = %d", resp.StatusCode)
		}
		return c, br
	}
	idle, idleBr := served()
	slow, slowBr := served()
	if _, err := io.WriteString(slow, "GET / HTTP/1.1\r\nHost: a.test\r\n"); err != nil {
		t.Fatal(err)
	}
	closedNow := func(c net.Conn, br *bufio.Reader) bool {
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, err := br.Peek(1)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return false
		}
		if err != io.EOF && !isReset(err) {
			t.Fatalf("read: %v", err)
		}
		return true
	}
	for deadline := time.Now().Add(5 * time.Second); !fs.CloseSlowHead(50 * time.Millisecond); {
		if time.Now().After(deadline) {
			t.Fatal("CloseSlowHead never closed the connection reading its second head")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !closedNow(slow, slowBr) {
		t.Error("the slow head's connection is still open")
	}
	if closedNow(idle, idleBr) {
		t.Fatal("CloseSlowHead closed the idle connection")
	}
	if n := fs.CloseIdle(1); n != 1 {
		t.Fatalf("CloseIdle(1) = %d, want 1", n)
	}
	if !closedNow(idle, idleBr) {
		t.Error("the idle connection is still open after CloseIdle")
	}
	if n := fs.CloseIdle(1); n != 0 {
		t.Errorf("CloseIdle(1) with none idle = %d, want 0", n)
	}
}

// TestPipelinedPartHeadNotIdle: a connection holding part of a pipelined
// request's head, its first request answered, is reading a head, not
// idle: CloseIdle leaves it and CloseSlowHead closes it. Before, it
// stayed stateIdle: CloseIdle closed it under the client's request, and
// CloseSlowHead never saw it.
func TestPipelinedPartHeadNotIdle(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	addr, fs := serveFast(t, h, time.Hour, time.Hour)
	c := dial(t, addr)
	br := bufio.NewReader(c)
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\nGET / HTTP/1.1\r\nHost: a"); err != nil {
		t.Fatal(err)
	}
	if resp := readResponse(t, br); resp.StatusCode != 200 {
		t.Fatalf("GET = %d", resp.StatusCode)
	}
	for deadline := time.Now().Add(5 * time.Second); !fs.CloseSlowHead(50 * time.Millisecond); {
		if n := fs.CloseIdle(1); n != 0 {
			t.Fatal("CloseIdle closed a connection holding part of a pipelined head")
		}
		if time.Now().After(deadline) {
			t.Fatal("CloseSlowHead never closed the connection holding part of a pipelined head")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.Peek(1); err != io.EOF && !isReset(err) {
		t.Errorf("read after CloseSlowHead: %v, want the connection closed", err)
	}
}
