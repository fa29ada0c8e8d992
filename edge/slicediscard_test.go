package edge

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
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
		writeCounted(w, &sent, 200*time.Microsecond) // ~100 MiB/s at most: the edge's drop outlasts the client
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

// TestSliceLaterStreamBounded: an origin that answers one slice's range
// with a 206 and the next one's with the whole 200 too large to store,
// after the response's head went out, had the edge read that 200 from
// byte 0 up to the slice and drop it, with no bound but the object's
// length: a 20-byte range 128 MiB into the object cost the origin 128 MiB
// (fails on the old code). Past maxStreamSkip the response is cut, the
// client seeing it incomplete, and the stream closed at once. A response
// that sent its client the bytes before the slice (a range from byte 0,
// as a whole GET) drops as many and is completed.
func TestSliceLaterStreamBounded(t *testing.T) {
	const total = 1 << 40
	for _, tc := range []struct {
		name     string
		partial  int64 // the origin answers ranges from below this offset with a 206
		from, to int64 // the client's range
		whole    bool  // the client gets all of it
	}{
		{"far", 2 * maxStreamSkip, 2*maxStreamSkip - 10, 2*maxStreamSkip + 9, false},
		{"sent-before", maxStreamSkip + 2*sliceSize, 0, maxStreamSkip + 2*sliceSize + 9, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sent atomic.Int64 // the bytes of the origin's whole 200s
			done := make(chan struct{}, 4)
			c := newClock()
			o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("ETag", `"v1"`)
				a, b, _, ok := parseContentRange("bytes " + strings.TrimPrefix(r.Header.Get("Range"), "bytes=") + "/*")
				if ok && a < tc.partial {
					w.Header().Set("Content-Range", contentRange(a, b, total))
					w.Header().Set("Content-Length", strconv.FormatInt(b-a+1, 10))
					w.WriteHeader(http.StatusPartialContent)
					_, _ = w.Write(make([]byte, b-a+1))
					return
				}
				defer func() { done <- struct{}{} }()
				w.Header().Set("Content-Length", strconv.Itoa(total))
				writeCounted(w, &sent, 0)
			})
			e := newSliceEdge(t, c, o.URL, sliceSize, 3*sliceSize)
			req, _ := http.NewRequest(http.MethodGet, e.URL+"/f", nil)
			req.Header.Set("Range", "bytes="+strconv.FormatInt(tc.from, 10)+"-"+strconv.FormatInt(tc.to, 10))
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			// A cut response may be cut before its head left the edge's
			// buffer: the client sees no response, as incomplete.
			var n int64
			resp, err := e.Client().Do(req.WithContext(ctx))
			if err == nil {
				n, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusPartialContent {
					t.Fatalf("status %d", resp.StatusCode)
				}
			}
			if want := tc.to - tc.from + 1; tc.whole != (err == nil && n == want) {
				t.Errorf("client got %d bytes of %d (err %v), want all: %v", n, want, err, tc.whole)
			}
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("the edge still reads the origin's 200 10s after its client's response ended: %d MiB read", sent.Load()>>20)
			}
			if n := sent.Load(); !tc.whole && n > maxStreamSkip/2 {
				t.Errorf("the origin sent %d MiB of its 200 for a 20-byte range", n>>20)
			}
		})
	}
}

// writeCounted writes zeros to w until a write fails, adding what it
// wrote to sent, pausing between writes.
func writeCounted(w io.Writer, sent *atomic.Int64, pause time.Duration) {
	buf := make([]byte, 32<<10)
	for {
		n, err := w.Write(buf)
		sent.Add(int64(n))
		if err != nil {
			return
		}
		if pause > 0 {
			time.Sleep(pause)
		}
	}
}
