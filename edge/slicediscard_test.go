package edge

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// TestSliceRangeOfStreamStopsWithClient: a range far into a sliced object
// whose origin ignores Range (a whole 200 too large to store) is taken
// from the 200's stream, whose bytes before the range are read and
// dropped. A client that goes away meanwhile (a reset: fastserve cannot
// tell a half-close from one) stops that read: before, the
// edge read on, with no deadline (the stream's fetch is unbound) and no
// client write to fail, up to the range's start: a client asking for the
// last byte of a 1 TB object had the edge download it all, gone or not.
func TestSliceRangeOfStreamStopsWithClient(t *testing.T) {
	const total = 1 << 40
	var sent atomic.Int64
	done := make(chan struct{})
	c := newClock()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Content-Length", strconv.Itoa(total))
		buf := make([]byte, 32<<10)
		for {
			n, err := w.Write(buf)
			sent.Add(int64(n))
			if err != nil {
				return
			}
		}
	})
	e := newSliceEdge(t, c, o.URL, sliceSize, 3*sliceSize)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.URL+"/f", nil)
	req.Header.Set("Range", "bytes="+strconv.Itoa(total-10)+"-")
	got := make(chan error, 1)
	go func() {
		// The client resets its connection as it leaves (a closed socket
		// with unread data, a browser tab closed): fastserve takes that
		// for a departure, not an end of stream (a half-close).
		tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				_ = conn.(*net.TCPConn).SetLinger(0)
			}
			return conn, err
		}}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err == nil {
			resp.Body.Close()
		}
		got <- err
	}()
	// The edge is reading the stream: the client goes away.
	for sent.Load() < 8*sliceSize {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("client: %v", err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("the edge still reads the origin's stream 10s after its client left: %d MiB read", sent.Load()>>20)
	}
}
