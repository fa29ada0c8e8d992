package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// memoryLoad is one size of TestMemoryBounded.
type memoryLoad struct {
	memory, disk int64 // cache.memory, cache.disk
	object       int64 // the size of the objects filled concurrently
	fills        int   // concurrent fills of distinct objects
	sequential   int   // objects of a 64th of the disk filled one after another first, to fill it
	slowReaders  int
}

// TestMemoryBounded drives many concurrent fills of large objects and
// clients that stop reading through the real binary, and checks that its
// anonymous RSS stays within cache.memory + 25%, its bbolt file within
// cache.disk + 5%, and that SIGTERM is done within server.shutdown_timeout.
// Before bodies in flight were bounded, 60 concurrent fills of distinct
// objects held every body at once (2.2 GiB with a 640 MiB soft limit in
// the probe). The default size keeps the fill volume many times the memory
// budget at a cost a shared 2-core machine bears (64 MiB, 4 MiB objects);
// EDGED_MEMORY_E2E=full runs the probe's sizes (256 MiB, 30 MiB objects).
func TestMemoryBounded(t *testing.T) {
	load := memoryLoad{memory: 64 << 20, disk: 128 << 20, object: 4 << 20, fills: 60, sequential: 100, slowReaders: 20}
	if os.Getenv("EDGED_MEMORY_E2E") == "full" {
		load = memoryLoad{memory: 256 << 20, disk: 1 << 30, object: 30 << 20, fills: 60, sequential: 100, slowReaders: 20}
	}
	// How far RSS and the file grow depends on when the collector and the
	// disk writer get a core: beside other test binaries on 2 cores they
	// lag. Bounds exceeded in each of three runs are a regression (before
	// the bounds, this load held every body at once); in one, load.
	var problems []string
	for attempt := 1; attempt <= 3; attempt++ {
		if problems = runMemoryLoad(t, load); len(problems) == 0 {
			return
		}
		t.Logf("run %d: %s", attempt, strings.Join(problems, "; "))
	}
	t.Errorf("bounds exceeded in all 3 runs; the last: %s", strings.Join(problems, "; "))
}

// runMemoryLoad is one run of TestMemoryBounded: failures of the node fail
// the test, and the bounds it exceeded are returned.
func runMemoryLoad(t *testing.T, load memoryLoad) (problems []string) {
	raiseFileLimit(t, 1024)
	slowSize := load.memory/8 + load.memory/32 // larger than a quarter of the tier (half of cache.memory): every hit is a disk hit
	origin := sizedOrigin(t, slowSize)
	dir := t.TempDir()
	p := startMemoryNode(t, dir, origin.URL, fmt.Sprintf(`
server:
  write_timeout: 30s
  shutdown_timeout: 5s
cache:
  memory: %d
  disk: %d
`, load.memory, load.disk))
	peak := sampleRSS(t, p.cmd.Process.Pid)

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: load.fills}}
	defer client.CloseIdleConnections()
	get := func(path string, size int64) error {
		resp, err := client.Get(p.public + path)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK || n != size {
			return fmt.Errorf("GET %s: %d, %d of %d bytes, %v", path, resp.StatusCode, n, size, err)
		}
		return nil
	}
	for i := range load.sequential { // stored one by one: the disk tier fills and evicts
		if err := get(sizedPath("seq", i, load.disk/64), load.disk/64); err != nil {
			t.Fatal(err)
		}
	}
	slowPath := sizedPath("slow", 0, slowSize)
	if err := get(slowPath, slowSize); err != nil {
		t.Fatal(err)
	}

	// Clients that read a little of the large object, then stop while
	// the fills run, and read the rest once they are done. (They used to
	// stall 3s against a 2s write_timeout, which cut them, and cut fills
	// too when the test's readers got no core for 2s: under -race at load
	// average 25 a 4 MiB fill was cut short. A stall ended by an event
	// holds the slow responses across the whole fill phase instead.)
	var slow sync.WaitGroup
	var cut atomic.Int64
	fillsDone := make(chan struct{})
	for range load.slowReaders {
		conn, err := (&net.Dialer{Control: smallReceiveBuffer}).Dial("tcp", strings.TrimPrefix(p.public, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", slowPath)
		slow.Add(1)
		go func() {
			defer slow.Done()
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				return
			}
			<-fillsDone
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			if n, err := io.Copy(io.Discard, resp.Body); err != nil || n < slowSize {
				cut.Add(1)
			}
		}()
	}

	var wg sync.WaitGroup
	errs := make(chan error, load.fills)
	for i := range load.fills {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := get(sizedPath("fill", i, load.object), load.object); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(fillsDone)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	slow.Wait()

	if limit := load.memory + load.memory/4; peak() > limit {
		problems = append(problems, fmt.Sprintf("peak anonymous RSS %d MiB, want at most cache.memory + 25%% = %d MiB", peak()>>20, limit>>20))
	} else {
		t.Logf("peak anonymous RSS %d MiB (cache.memory %d MiB); %d of %d slow readers cut", peak()>>20, load.memory>>20, cut.Load(), load.slowReaders)
	}

	start := time.Now()
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	if took := time.Since(start); took > 5*time.Second+2*time.Second {
		t.Errorf("stop took %v, server.shutdown_timeout is 5s", took)
	}
	fi, err := os.Stat(filepath.Join(dir, "edged.db"))
	if err != nil {
		t.Fatal(err)
	}
	if limit := load.disk + load.disk/20; fi.Size() > limit {
		problems = append(problems, fmt.Sprintf("bbolt file is %d MiB, want at most cache.disk + 5%% = %d MiB", fi.Size()>>20, limit>>20))
	}
	return problems
}

// startMemoryNode runs the binary on data directory dir in front of
// origin, with the YAML sections given (server:, cache:) after the common
// ones, and fails the test if it does not start.
func startMemoryNode(t *testing.T, dir, origin, sections string) *proc {
	t.Helper()
	cfg := writeFile(t, "edged.yaml", fmt.Sprintf(`
listen: 127.0.0.1:0
admin: ""
data: %s
log: {level: info, access: false}
upstream: {origin: %s}
`, dir, origin)+sections)
	p := runEdged(t, "-config", cfg)
	if p.public == "" {
		t.Fatalf("edged exited at start (%v)", p.exitErr)
	}
	return p
}

// sizedOrigin serves /<name>/<n>?size=N: N bytes (at most max), cacheable.
func sizedOrigin(t testing.TB, max int64) *httptest.Server {
	t.Helper()
	body := make([]byte, max)
	for i := range body {
		body[i] = byte('a' + i%26)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		size, err := strconv.ParseInt(r.URL.Query().Get("size"), 10, 64)
		if err != nil || size > max {
			http.Error(w, "bad size", http.StatusBadRequest)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=600")
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		_, _ = w.Write(body[:size])
	}))
	t.Cleanup(srv.Close)
	return srv
}

func sizedPath(name string, i int, size int64) string {
	return fmt.Sprintf("/%s/%d?size=%d", name, i, size)
}

// sampleRSS samples the process's anonymous RSS (what its heap and stacks
// take; the bbolt file's mapped pages are file-backed and reclaimable)
// every 20 ms until the test ends, and returns the peak so far.
func sampleRSS(t testing.TB, pid int) (peak func() int64) {
	t.Helper()
	var max atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if v := rssAnon(pid); v > max.Load() {
				max.Store(v)
			}
			select {
			case <-tick.C:
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return func() int64 { return max.Load() }
}

// rssAnon reads RssAnon from /proc/pid/status, in bytes (0 if unreadable).
func rssAnon(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// smallReceiveBuffer shrinks a client socket's receive buffer, so that a
// client that stops reading stops the node's writes soon.
func smallReceiveBuffer(_, _ string, rc syscall.RawConn) error {
	var err error
	_ = rc.Control(func(fd uintptr) {
		err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
	})
	return err
}

// TestSlowReadersOfFillsBounded: clients that each fetch a distinct large
// object (a fill, too large for the memory tier) and then stop reading.
// Before, a completed fill's body left the budget at once while its slow
// client pinned it, so each such client held a whole object: 20 clients of
// 25 MiB objects took anonymous RSS to 544 MiB for a 64 MiB cache.memory
// (the issue 11 re-probe). Such a body now counts until it is garbage, so
// fills behind it are streamed through.
func TestSlowReadersOfFillsBounded(t *testing.T) {
	const memory, object, readers = 64 << 20, 7 << 20, 20 // objects past the memory tier's item limit (6 MiB)
	raiseFileLimit(t, 1024)
	origin := sizedOrigin(t, object)
	p := startMemoryNode(t, t.TempDir(), origin.URL, fmt.Sprintf(`
server: {write_timeout: 30s}
cache: {memory: %d, disk: 1GiB}
`, memory))
	peak := sampleRSS(t, p.cmd.Process.Pid)
	var heads sync.WaitGroup
	stop := make(chan struct{})
	for i := range readers {
		conn, err := (&net.Dialer{Control: smallReceiveBuffer}).Dial("tcp", strings.TrimPrefix(p.public, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", sizedPath("pinned", i, object))
		heads.Add(1)
		go func() {
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			heads.Done()
			if err != nil {
				t.Errorf("reader %d: %v", i, err)
				return
			}
			// Then it reads 64 KiB now and then, never enough to finish
			// nor to be cut by the write timeout.
			buf := make([]byte, 64<<10)
			for {
				select {
				case <-stop:
					return
				case <-time.After(300 * time.Millisecond):
				}
				if _, err := io.ReadFull(resp.Body, buf); err != nil {
					return
				}
			}
		}()
		// One after another, as clients come (the probe opened one every
		// 0.5 s), so that the budget alone decides whether a fill is held:
		// the response head is the event. A fill the budget holds is
		// answered once it has read its whole body (a miss waits for the
		// fill's end); one it refuses is passed through at once, and
		// never reads its body while its client stalls.
		heads.Wait()
	}
	// The load under test is twenty readers stalled for a while, so this
	// sleep is part of it: a second of stall (fifty RSS samples).
	time.Sleep(time.Second)
	close(stop)
	if limit := int64(memory + memory/4); peak() > limit {
		t.Errorf("peak anonymous RSS %d MiB with %d stalled readers of %d MiB fills, want at most cache.memory + 25%% = %d MiB",
			peak()>>20, readers, object>>20, limit>>20)
	} else {
		t.Logf("peak anonymous RSS %d MiB", peak()>>20)
	}
}
