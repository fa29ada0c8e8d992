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
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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

// TestSendfileOfAFileNotInThePageCache: a body file whose pages are not
// all in the page cache goes out with an ordinary system call (reading
// the disk waits, and a raw call would hold its P meanwhile), one whose
// pages are with a raw one; both send the file's bytes. A file found in
// the cache is taken to stay there for cachedFor.
func TestSendfileOfAFileNotInThePageCache(t *testing.T) {
	body := pattern(256 << 10)
	first := bodyFile(t, body)
	var file atomic.Pointer[os.File]
	file.Store(first)
	var mu sync.Mutex
	var seen []bool
	testHookSendfile = func(cached bool) {
		mu.Lock()
		seen = append(seen, cached)
		mu.Unlock()
	}
	t.Cleanup(func() { testHookSendfile = nil })
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fileHandler(file.Load(), int64(len(body))).ServeHTTP(w, r)
	})
	addr, srv := serveFast(t, h, time.Minute, time.Minute)
	fetch := func() {
		t.Helper()
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("got %d bytes (%v), want the file's %d", len(got), err, len(body))
		}
	}
	fetch() // the file was just written: its pages are cached
	if !evict(t, first, len(body)) {
		t.Skip("the file system keeps the file's pages (FADV_DONTNEED dropped none)")
	}
	fetch() // the same file within cachedFor: not asked again (and read back)
	// Another descriptor of the file, not in the cache: asked.
	again, err := os.Open(first.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = again.Close() })
	file.Store(again)
	if !evict(t, again, len(body)) {
		t.Fatal("FADV_DONTNEED dropped the file's pages once, not twice")
	}
	fetch() // not cached
	fetch() // read by the one before
	mu.Lock()
	defer mu.Unlock()
	if noCachestat.Load() {
		if len(seen) != 4 || seen[0] || seen[1] || seen[2] || seen[3] {
			t.Fatalf("without cachestat, raw sendfiles %v; want none", seen)
		}
		return
	}
	if want := []bool{true, true, false, true}; !slices.Equal(seen, want) {
		t.Fatalf("sendfiles raw %v, want %v", seen, want)
	}
	if !srv.cached.recent(again, time.Since(epoch)) || srv.cached.recent(again, time.Since(epoch)+cachedFor) {
		t.Fatalf("a file found cached is not taken to be for exactly %v", cachedFor)
	}
}

// evict asks the kernel to drop f's pages from the page cache, and reports
// whether some of its first n bytes left it.
func evict(t *testing.T, f *os.File, n int) bool {
	t.Helper()
	if err := f.Sync(); err != nil { // dirty pages stay
		t.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	var st unix.Cachestat_t
	err := unix.Cachestat(uint(f.Fd()), &unix.CachestatRange{Len: uint64(n)}, &st, 0)
	if errors.Is(err, unix.ENOSYS) {
		return true // cannot tell: the test then checks every sendfile is ordinary
	}
	if err != nil {
		t.Fatal(err)
	}
	return st.Cache < uint64((n+os.Getpagesize()-1)/os.Getpagesize())
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
