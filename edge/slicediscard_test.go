package edge

import (
	"context"
	"errors"
	"io"
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
// client write to fail, up to the range's start (up to maxStreamSkip
// bytes: TestSliceRangeFarIntoStreamSentWhole).
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
			time.Sleep(200 * time.Microsecond) // ~100 MiB/s at most: the edge's drop outlasts the client
		}
	})
	e := newSliceEdge(t, c, o.URL, sliceSize, 3*sliceSize)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.URL+"/f", nil)
	req.Header.Set("Range", "bytes="+strconv.Itoa(maxStreamSkip-10)+"-"+strconv.Itoa(maxStreamSkip))
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
	if n := sent.Load(); n > maxStreamSkip/2 {
		t.Errorf("the origin sent %d MiB, the client left after 8", n>>20)
	}
}

// TestSliceRangeFarIntoStreamSentWhole: a range further into such a
// stream than maxStreamSkip is answered with the whole 200, sent at the
// client's pace, not a 206 the edge makes by reading and dropping every
// byte before it while the client waits (a request for the last bytes of
// a 1 TB object cost the origin 1 TB, the client a few bytes). Fails on the
// old code (a 206, its bytes never came). A range within maxStreamSkip is
// still a 206 of its bytes.
func TestSliceRangeFarIntoStreamSentWhole(t *testing.T) {
	const total = 1 << 40
	c := newClock()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Content-Length", strconv.Itoa(total))
		buf := make([]byte, 251*128) // byte i of the object is i%251
		for i := range buf {
			buf[i] = byte(i % 251)
		}
		for {
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
	})
	e := newSliceEdge(t, c, o.URL, sliceSize, 3*sliceSize)
	for _, tc := range []struct {
		rng    string
		status int
		first  int64
	}{
		{"bytes=" + strconv.Itoa(total-10) + "-", http.StatusOK, 0},
		{"bytes=0-9," + strconv.Itoa(2*maxStreamSkip) + "-" + strconv.Itoa(2*maxStreamSkip+9), http.StatusOK, 0},
		{"bytes=" + strconv.Itoa(maxStreamSkip-10) + "-" + strconv.Itoa(maxStreamSkip), http.StatusPartialContent, maxStreamSkip - 10},
	} {
		req, _ := http.NewRequest(http.MethodGet, e.URL+"/f", nil)
		req.Header.Set("Range", tc.rng)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		resp, err := e.Client().Do(req.WithContext(ctx))
		if err != nil {
			cancel()
			t.Fatalf("%s: %v", tc.rng, err)
		}
		got := make([]byte, 11)
		n, _ := io.ReadFull(resp.Body, got)
		resp.Body.Close()
		cancel()
		ok := n == len(got)
		for i := range got[:n] {
			ok = ok && got[i] == byte((tc.first+int64(i))%251)
		}
		if resp.StatusCode != tc.status || !ok {
			t.Errorf("%s: status %d (want %d), %d bytes, right bytes %v", tc.rng, resp.StatusCode, tc.status, n, ok)
		}
	}
}
