package fastserve

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// holdHandler answers /hold only once the test releases it, and tells the
// test when it started; every other path at once. Each body names the path.
type holdHandler struct {
	entered, release chan struct{}
}

func (h *holdHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/hold" {
		h.entered <- struct{}{}
		<-h.release
	}
	_, _ = io.WriteString(w, r.URL.Path)
}

// expectBody reads one response from br and fails t unless its body is want.
func expectBody(t *testing.T, br *bufio.Reader, want string) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("want the response to %s: %v", want, err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil || string(b) != want {
		t.Fatalf("body %q (%v), want %q", b, err, want)
	}
}

// TestRequestArrivingWhileServing: a request that arrives while the one
// before it is being answered (a pipelining client) is served at once,
// also when the runtime's poller saw it arrive before the response went
// out. A wait for the next request that parks on the poller before
// reading (syscall.RawConn.Read whose first call reads nothing) misses it:
// RawConn.Read forgets the readiness the poller recorded before it was
// called, and an edge-triggered poller reports those bytes no more, so the
// request waits for the idle timeout.
func TestRequestArrivingWhileServing(t *testing.T) {
	h := &holdHandler{entered: make(chan struct{}), release: make(chan struct{})}
	addr, _ := serveFast(t, h, time.Hour, time.Hour)
	for round := range 3 {
		c := dial(t, addr)
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		_, _ = io.WriteString(c, get("/hold"))
		<-h.entered
		_, _ = io.WriteString(c, get(fmt.Sprintf("/next%d", round)))
		// Not a synchronisation: time for the poller to see the second
		// request (the runtime polls at least every 10 ms) while the
		// first is still being answered.
		time.Sleep(30 * time.Millisecond)
		h.release <- struct{}{}
		expectBody(t, br, "/hold")
		expectBody(t, br, fmt.Sprintf("/next%d", round))
	}
}

// TestRequestsBackToBack: requests sent the moment the response before
// them arrived are all served, on one connection.
func TestRequestsBackToBack(t *testing.T) {
	addr, _ := serveFast(t, &holdHandler{}, time.Hour, time.Hour)
	c := dial(t, addr)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for i := range 500 {
		path := fmt.Sprintf("/r%d", i)
		_, _ = io.WriteString(c, get(path))
		expectBody(t, br, path)
	}
}
