//go:build linux

package fastserve

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// pattern is n bytes that show where a piece of them came from.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/4093)
	}
	return b
}

// bodyFile writes body to a file and returns it open.
func bodyFile(t *testing.T, body []byte) *os.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), "body")
	if err := os.WriteFile(p, body, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// fileHandler sends f's first n bytes as the body, through ReadFrom as
// edge's hits do, one request at a time (the file's offset is shared).
func fileHandler(f *os.File, n int64) http.Handler {
	var mu sync.Mutex
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			panic(err)
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		w.WriteHeader(http.StatusOK)
		_, _ = w.(io.ReaderFrom).ReadFrom(&io.LimitedReader{R: f, N: n})
	})
}

// TestLargeBodiesToASlowReader: bodies far larger than the socket's
// buffers, written (writev) and sent from a file (sendfile) to a client
// that reads in small pieces, arrive whole and in order, pipelined too:
// the raw writes wait for the socket and resume where they stopped. (A
// receive buffer far below loopback's 64 KiB segments would crawl on
// TCP's persist timer, whatever the server.)
func TestLargeBodiesToASlowReader(t *testing.T) {
	body := pattern(12<<20 + 123)
	f := bodyFile(t, body)
	files := fileHandler(f, int64(len(body)))
	mux := http.NewServeMux()
	mux.Handle("/file", files)
	mux.HandleFunc("/write", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})
	addr, _ := serveFast(t, mux, time.Minute, time.Minute)
	c := dial(t, addr)
	_ = c.SetReadBuffer(256 << 10)
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, get("/file")+get("/write")+get("/file")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReaderSize(c, 1<<10)
	for i := range 3 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		var got []byte
		buf := make([]byte, 1500)
		for {
			n, err := resp.Body.Read(buf)
			got = append(got, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("response %d: after %d bytes: %v", i, len(got), err)
			}
		}
		if !bytes.Equal(got, body) {
			t.Fatalf("response %d: %d bytes, not the %d sent (first difference at %d)", i, len(got), len(body), firstDiff(got, body))
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestSendfileWriteDeadline: a file sent to a client that reads nothing
// ends at the handler's write deadline with a timeout, as net/http's
// sendfile does.
func TestSendfileWriteDeadline(t *testing.T) {
	body := pattern(16 << 20)
	f := bodyFile(t, body)
	errs := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		_, err := w.(io.ReaderFrom).ReadFrom(&io.LimitedReader{R: f, N: int64(len(body))})
		errs <- err
	})
	addr, _ := serveFast(t, h, time.Minute, time.Minute)
	c := dial(t, addr)
	_ = c.SetReadBuffer(4 << 10)
	if _, err := io.WriteString(c, get("/")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("ReadFrom to a client that reads nothing: %v, want a deadline error", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("ReadFrom to a client that reads nothing did not end at its write deadline")
	}
}
