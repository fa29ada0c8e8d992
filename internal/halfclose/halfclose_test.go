package halfclose

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// A held read ends when the deadline passes (a timeout, as net/http's
// abortPendingRead expects) or the connection closes, never with the EOF.
func TestHoldEnds(t *testing.T) {
	var h Hold
	h.SetDeadline(time.Now().Add(20 * time.Millisecond))
	if err := h.Wait(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("past the deadline: %v", err)
	}
	h.SetDeadline(time.Time{})
	done := make(chan error)
	go func() { done <- h.Wait() }()
	h.SetDeadline(time.Unix(1, 0)) // net/http's aLongTimeAgo
	if err := <-done; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("after a deadline in the past: %v", err)
	}
	h.SetDeadline(time.Time{})
	go func() { done <- h.Wait() }()
	h.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// net/http over a wrapped listener answers a client that half-closed
// after its request, while its handler waits on its context.
func TestHalfClosedClientAnswered(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(100 * time.Millisecond): // an origin's answer
		}
		_, _ = io.WriteString(w, "answer")
	})}
	go func() { _ = srv.Serve(Listener{ln}) }()
	t.Cleanup(func() { _ = srv.Close() })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = c.(*net.TCPConn).CloseWrite()
	b, _ := io.ReadAll(c)
	if !strings.HasSuffix(string(b), "answer") {
		t.Fatalf("got %q, want the answer", b)
	}
}
