package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// damagedObjects is how many objects the damaged-store test caches.
const damagedObjects = 300

// A damaged edged.db never kills the node (issue 11 §4). Before, flipping
// bytes 8192-16383 made requests for the keys on those pages panic, a
// purge of everything killed the process and every restart panicked in
// bbolt's freelist rebuild; a file truncated to half was a fatal fault at
// start. Now, damaged between runs in either way, the node starts, serves
// every object as the origin's (refetched where the file was set aside),
// purges everything, stops cleanly and starts again.
func TestDamagedStoreBetweenRuns(t *testing.T) {
	const host = "damaged.example.test"
	origin, _, _ := checksumOrigin(t, 0)
	data := t.TempDir()
	t.Setenv("EDGED_PURGE_TOKEN", "damage-test-token")
	args := []string{"-origin", origin.URL, "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-data", data}
	dbPath := filepath.Join(data, "edged.db")

	run := func(round string) *proc {
		t.Helper()
		p := runEdged(t, args...)
		if p.public == "" {
			t.Fatalf("%s: edged exited at start (%v); stderr:\n%s", round, p.exitErr, p.stderr)
		}
		for i := range int64(damagedObjects) {
			resp, err := getObject(context.Background(), p.public, host, i)
			if err != nil {
				t.Fatalf("%s: object %d: %v (did the node die?)", round, i, err)
			}
			if resp.status != http.StatusOK || !bytes.Equal(resp.body, crashBody(objectPath(i))) {
				t.Fatalf("%s: object %d: status %d, %d bytes, Cache-Status %q: not the origin's body",
					round, i, resp.status, len(resp.body), resp.cacheStatus)
			}
		}
		return p
	}
	stop := func(round string, p *proc) {
		t.Helper()
		if code := p.stop(t); code != 0 {
			t.Fatalf("%s: exit code after SIGTERM = %d; stderr:\n%s", round, code, p.stderr)
		}
		for _, line := range strings.Split(p.stderr.String(), "\n") {
			if strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ") {
				t.Errorf("%s: the process panicked: %s", round, line)
			}
		}
	}

	stop("fill", run("fill"))
	flip(t, dbPath, 8192, 16384)
	p := run("after flipping bytes 8192-16383")
	purgeAll(t, p.admin)
	stop("after flipping", p)

	if err := os.Truncate(dbPath, fileSize(t, dbPath)/2); err != nil {
		t.Fatal(err)
	}
	p = run("after truncating to half")
	if n := metricValue(t, p.admin, "edged_storage_damaged_files_total"); n != 1 {
		t.Errorf("edged_storage_damaged_files_total = %v after opening a truncated file, want 1", n)
	}
	if !strings.Contains(p.stderr.String(), "damaged store file set aside") {
		t.Errorf("the log does not say the truncated file was set aside:\n%s", p.stderr)
	}
	purgeAll(t, p.admin)
	stop("after truncating", p)

	p = run("restart")
	if n := metricValue(t, p.admin, "edged_storage_damaged_files_total"); n != 0 {
		t.Errorf("edged_storage_damaged_files_total = %v on a clean restart, want 0", n)
	}
	stop("restart", p)
}

// A second node on the same data directory says that another process holds
// it (issue 12: it said "open store .../edged.db: timeout") and exits; the
// first one keeps serving.
func TestSecondNodeOnOneDataDirectory(t *testing.T) {
	origin, _, _ := checksumOrigin(t, 0)
	data := t.TempDir()
	args := []string{"-origin", origin.URL, "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-data", data}
	first := runEdged(t, args...)
	if first.public == "" {
		t.Fatalf("edged exited at start (%v)", first.exitErr)
	}
	second := runEdged(t, args...)
	if second.public != "" {
		t.Fatal("a second edged started on the same data directory")
	}
	if code := second.wait(t); code == 0 {
		t.Error("the second edged exited with code 0")
	}
	if msg := second.stderr.String(); !strings.Contains(msg, "locked by another process") || !strings.Contains(msg, "data directory "+data) {
		t.Errorf("the second edged's error does not say the data directory is in use:\n%s", msg)
	}
	if resp, err := getObject(context.Background(), first.public, "first.example.test", 1); err != nil || resp.status != http.StatusOK {
		t.Errorf("the first edged after the second one's attempt: %v, %v", resp, err)
	}
	if code := first.stop(t); code != 0 {
		t.Errorf("first edged's exit code = %d", code)
	}
}

func purgeAll(t *testing.T, admin string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, admin+"/purge", strings.NewReader(`{"all":true}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer damage-test-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("purge all: %v (did the node die?)", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("purge all: status %d", resp.StatusCode)
	}
}

// flip inverts bytes [from, to) of the file at path.
func flip(t *testing.T, path string, from, to int) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) < to {
		t.Fatalf("%s has %d bytes, fewer than %d", path, len(raw), to)
	}
	for i := from; i < to; i++ {
		raw[i] ^= 0xFF
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
