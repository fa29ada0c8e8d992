package fastserve

import (
	"bufio"
	"io"
	"log"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// A large body goes out in one writev(2) with the head (conn.send), from
// the handler's own buffer, through the connection's iov array, which is
// kept for the next large answer. The array must not keep the body: an idle
// keep-alive connection would hold it until its client's next large
// answer, and the edge's body budget counts a fill's body until it is
// unreachable (hold.releaseWhenUnreachable), so idle clients would pin the
// budget. Here the body must be collected while the connection that sent
// it stays open and idle.
func TestSentBodyNotRetainedByIdleConn(t *testing.T) {
	const size = 64 << 10 // past maxOut: sent from the handler's buffer
	collected := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := new([size]byte)
		runtime.AddCleanup(body, func(ch chan struct{}) { close(ch) }, collected)
		w.Header().Set("Content-Type", "application/octet-stream") // nothing sniffed, nothing copied
		w.Header().Set("Content-Length", strconv.Itoa(size))
		_, _ = w.Write(body[:])
	})
	fs := &Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0)}
	ln := listen(t)
	go func() { _ = fs.Serve(ln) }()
	t.Cleanup(func() { _ = fs.Close() })

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /big HTTP/1.1\r\nHost: h\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(io.Discard, resp.Body); err != nil || n != size {
		t.Fatalf("body: %d bytes, %v; want %d", n, err, size)
	}
	// The connection stays open, idle. A cleanup runs some time after the
	// collection that finds its object unreachable: collect until it has.
	for range 100 {
		runtime.GC()
		select {
		case <-collected:
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatal("the body sent is still reachable from the idle connection that sent it")
}
