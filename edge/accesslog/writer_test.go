package accesslog

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"edged/internal/logtest"
)

func newWriter(t testing.TB, opts Options) *Writer {
	t.Helper()
	w, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

func line(i int) []byte { return fmt.Appendf(nil, "line %d\n", i) }

// A line waits in the buffer, with no write, until the flush interval has
// passed.
func TestFlushInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &logtest.Buffer{}
		w := newWriter(t, Options{Output: out, FlushInterval: 5 * time.Second})
		w.Write(line(1))
		w.Write(line(2))
		time.Sleep(4 * time.Second)
		synctest.Wait()
		if got := out.String(); got != "" {
			t.Fatalf("written before the flush interval: %q", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got, want := out.String(), "line 1\nline 2\n"; got != want {
			t.Fatalf("after the flush interval: %q, want %q", got, want)
		}
		if out.Writes() != 1 {
			t.Errorf("%d writes, want 1 for both lines", out.Writes())
		}
		_ = w.Close()
	})
}

// A full buffer is written at once, as one write, without waiting for the
// interval; the lines keep their order.
func TestFullBufferWritten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &logtest.Buffer{}
		w := newWriter(t, Options{Output: out, BufferBytes: 64, FlushInterval: time.Hour})
		var want strings.Builder
		for i := range 20 { // "line NN\n" is 8 bytes: 8 lines fill a buffer
			w.Write(line(10 + i))
			fmt.Fprintf(&want, "line %d\n", 10+i)
		}
		synctest.Wait()
		if got := out.String(); !strings.HasPrefix(want.String(), got) || len(got) != 128 {
			t.Fatalf("written %q, want the first two buffers of %q", got, want.String())
		}
		if out.Writes() != 2 {
			t.Errorf("%d writes, want 2", out.Writes())
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if got := out.String(); got != want.String() {
			t.Fatalf("after Close %q, want %q", got, want.String())
		}
	})
}

// blockingWriter blocks every write until release is closed.
type blockingWriter struct {
	logtest.Buffer
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (b *blockingWriter) Write(p []byte) (int, error) {
	b.once.Do(func() { close(b.entered) })
	<-b.release
	return b.Buffer.Write(p)
}

// When the output blocks, Write never waits: once every buffer waits to be
// written, lines are dropped and counted; what was kept is written when the
// output recovers, and Close loses nothing more.
func TestSlowOutputDrops(t *testing.T) {
	out := &blockingWriter{entered: make(chan struct{}), release: make(chan struct{})}
	reg := prometheus.NewRegistry()
	w := newWriter(t, Options{Output: out, BufferBytes: 64, Buffers: 3, FlushInterval: time.Hour, Registerer: reg})
	const total = 1000
	w.Write(line(10))
	go w.Flush()  // the goroutine starts writing line 10...
	<-out.entered // the goroutine is stuck in a write
	for i := 1; i < total; i++ {
		w.Write(line(100 + i%900)) // returns although nothing can be written
	}
	dropped := w.Dropped()
	// One buffer is in the stuck write, the others (64 bytes, 8 lines each) wait.
	if dropped < total-1-2*8-8 || dropped >= total {
		t.Fatalf("dropped %d of %d lines", dropped, total)
	}
	if got := testutil.ToFloat64(collectorOf(t, reg, "edged_access_log_dropped_total")); got != float64(dropped) {
		t.Errorf("edged_access_log_dropped_total = %v, want %d", got, dropped)
	}
	close(out.release)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	written := strings.Count(out.String(), "\n")
	if int64(written)+dropped != total {
		t.Errorf("written %d + dropped %d != %d logged", written, dropped, total)
	}
}

func collectorOf(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	return prometheus.CollectorFunc(func(ch chan<- prometheus.Metric) {
		mfs, err := reg.Gather()
		if err != nil {
			t.Error(err)
			return
		}
		for _, mf := range mfs {
			if mf.GetName() == name {
				ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(name, "x", nil, nil), prometheus.CounterValue, mf.GetMetric()[0].GetCounter().GetValue())
			}
		}
	})
}

// Close writes every line logged before it: none is lost on a clean stop.
func TestCloseFlushes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	w := newWriter(t, Options{File: path, FlushInterval: time.Hour})
	var want strings.Builder
	for i := range 2000 { // more than one buffer, fewer than all of them
		w.Write(line(i))
		fmt.Fprintf(&want, "line %d\n", i)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want.String() {
		t.Fatalf("file has %d bytes, want %d (dropped %d)", len(got), want.Len(), w.Dropped())
	}
	w.Write(line(1)) // after Close: dropped, not a panic
	if w.Dropped() != 1 {
		t.Errorf("a line after Close: dropped = %d, want 1", w.Dropped())
	}
}

// After logrotate renames the file, Reopen makes the lines logged from then
// on go to a new file of the old name; those before it stay in the renamed
// one.
func TestReopenAfterRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	w := newWriter(t, Options{File: path, FlushInterval: time.Hour})
	w.Write([]byte("before 1\n"))
	w.Flush()
	w.Write([]byte("before 2\n")) // still in the buffer at the rename
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := w.Reopen(); err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("after\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	wantFiles(t, map[string]string{path + ".1": "before 1\nbefore 2\n", path: "after\n"})
}

// A reopen that fails keeps the old file in use.
func TestReopenFailureKeepsFile(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "logs")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(sub, "access.log")
	w := newWriter(t, Options{File: path, FlushInterval: time.Hour})
	if err := os.Rename(sub, filepath.Join(dir, "moved")); err != nil {
		t.Fatal(err)
	}
	if err := w.Reopen(); err == nil {
		t.Fatal("Reopen succeeded with its directory gone")
	}
	w.Write([]byte("still here\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "moved", "access.log"))
	if string(got) != "still here\n" {
		t.Errorf("old file = %q, want the line", got)
	}
}

// A line longer than a buffer is written whole.
func TestLongLine(t *testing.T) {
	out := &logtest.Buffer{}
	w := newWriter(t, Options{Output: out, BufferBytes: 32, FlushInterval: time.Hour})
	long := strings.Repeat("x", 100) + "\n"
	w.Write([]byte("short\n"))
	w.Write([]byte(long))
	w.Write([]byte("short\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "short\n"+long+"short\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestOptionsRefused(t *testing.T) {
	for _, o := range []Options{
		{BufferBytes: -1}, {FlushInterval: -time.Second}, {Buffers: 1}, {Format: 7},
		{File: filepath.Join(t.TempDir(), "missing", "access.log")},
	} {
		if w, err := New(o); err == nil {
			_ = w.Close()
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}

// A Write does not wait for a request that holds the log's lock, as one
// whose thread the OS descheduled in the middle of its Write does: the line
// goes to another shard, and is written as any other. (With one lock for
// every line, this Write waited, and with it every request of the node.)
func TestWriteAroundHeldShard(t *testing.T) {
	out := &logtest.Buffer{}
	w := newWriter(t, Options{Output: out, FlushInterval: time.Hour})
	w.Write(line(1))
	held := &w.shards[0]
	held.mu.Lock() // the descheduled request
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Write(line(2))
	}()
	select {
	case <-done:
	case <-time.After(time.Minute): // a failure only: the Write waits on the held lock
		t.Fatal("Write waited for the request holding the lock")
	}
	held.mu.Unlock()
	w.Flush()
	if got := out.String(); !strings.Contains(got, "line 1\n") || !strings.Contains(got, "line 2\n") || len(got) != 14 {
		t.Fatalf("written %q, want line 1 and line 2", got)
	}
}

// Lines logged by many goroutines at once are each written once and whole,
// never cut or mixed with another, and every line is either written or
// counted as dropped.
func TestConcurrentLinesWhole(t *testing.T) {
	out := &logtest.Buffer{}
	w := newWriter(t, Options{Output: out, BufferBytes: 300, FlushInterval: time.Millisecond})
	const goroutines, each = 8, 500
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				w.Write(fmt.Appendf(nil, "goroutine %d line %d %s\n", g, i, strings.Repeat("x", i%40)))
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for l := range strings.Lines(out.String()) {
		var g, i int
		if _, err := fmt.Sscanf(l, "goroutine %d line %d", &g, &i); err != nil || seen[l] {
			t.Fatalf("line %q: cut, mixed or written twice", l)
		}
		if want := fmt.Sprintf("goroutine %d line %d %s\n", g, i, strings.Repeat("x", i%40)); l != want {
			t.Fatalf("line %q, want %q", l, want)
		}
		seen[l] = true
	}
	if len(seen) == 0 || int64(len(seen))+w.Dropped() != goroutines*each {
		t.Errorf("written %d + dropped %d != %d logged", len(seen), w.Dropped(), goroutines*each)
	}
}

// Lines waiting in several shards at a Reopen go to the old file, and
// those waiting in several at Close are written before it returns: each
// flush takes every shard's buffer, not only the first's.
func TestReopenAndCloseTakeEveryShard(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	w := newWriter(t, Options{File: path, FlushInterval: time.Hour})
	// inShards writes first to shard 0, then, while shard 0's lock is
	// held (a descheduled request), second to shard 1.
	inShards := func(first, second string) {
		w.Write([]byte(first))
		w.shards[0].mu.Lock()
		w.Write([]byte(second))
		w.shards[0].mu.Unlock()
		s := &w.shards[1]
		s.mu.Lock()
		n := len(s.cur)
		s.mu.Unlock()
		if n == 0 {
			t.Fatalf("%q did not go to the second shard", second)
		}
	}
	inShards("before 1\n", "before 2\n")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := w.Reopen(); err != nil {
		t.Fatal(err)
	}
	inShards("after 1\n", "after 2\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	wantFiles(t, map[string]string{path + ".1": "before 1\nbefore 2\n", path: "after 1\nafter 2\n"})
	if n := w.Dropped(); n != 0 {
		t.Errorf("dropped = %d, want 0", n)
	}
}

// wantFiles fails t unless each named file holds exactly its text.
func wantFiles(t *testing.T, want map[string]string) {
	t.Helper()
	for name, text := range want {
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != text {
			t.Errorf("%s = %q, want %q", filepath.Base(name), got, text)
		}
	}
}
