package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// crashObjects is how many distinct objects the crash test writes.
const crashObjects = 3000

// crashBody is the origin's body of path: 1–5 KiB derived from the path by
// chained SHA-256, so that any damaged, truncated or swapped body differs.
func crashBody(path string) []byte {
	sum := sha256.Sum256([]byte(path))
	n := 1024 + int(sum[0])<<4 // 1024..5104 bytes
	body := make([]byte, 0, n+len(sum))
	for len(body) < n {
		body = append(body, sum[:]...)
		sum = sha256.Sum256(sum[:])
	}
	return body[:n]
}

// checksumOrigin serves crashBody for every path, cacheable for an hour. It
// counts its requests in hits and closes reached at the request numbered
// at (never when at is 0).
func checksumOrigin(t testing.TB, at int64) (srv *httptest.Server, hits *atomic.Int64, reached <-chan struct{}) {
	t.Helper()
	var n atomic.Int64
	at0 := make(chan struct{})
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == at {
			close(at0)
		}
		body := crashBody(r.URL.Path)
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &n, at0
}

// TestCrashMidWrite kills edged with SIGKILL while it writes thousands of
// objects to its disk tier, restarts it on the same data directory and checks
// every object it serves byte for byte against the origin: zero damaged
// responses. bbolt's own consistency check must pass on the file afterwards.
func TestCrashMidWrite(t *testing.T) {
	const host = "crash.example.test"
	origin, originHits, twoThirds := checksumOrigin(t, crashObjects*2/3)
	data := t.TempDir()
	args := []string{"-origin", origin.URL, "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-data", data}
	p := runEdged(t, args...)
	if p.public == "" {
		t.Fatalf("edged exited at start (%v)", p.exitErr)
	}

	// Eight clients walk the objects; the node is killed once two thirds of
	// them were fetched, while the others are still being fetched and the
	// disk writer is busy.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= crashObjects || ctx.Err() != nil {
					return
				}
				_, _ = getObject(ctx, p.public, host, i) // errors expected once killed
			}
		}()
	}
	select {
	case <-twoThirds:
	case <-time.After(30 * time.Second):
		t.Fatalf("only %d objects fetched in 30s", originHits.Load())
	}
	if err := p.cmd.Process.Kill(); err != nil { // SIGKILL: no drain, no close
		t.Fatal(err)
	}
	p.wait(t)
	cancel()
	wg.Wait()
	fetchedBeforeCrash := originHits.Load()

	q := runEdged(t, args...)
	if q.public == "" {
		t.Fatalf("restart after SIGKILL exited at start (%v)", q.exitErr)
	}
	var damaged, hits int
	for i := range int64(crashObjects) {
		resp, err := getObject(context.Background(), q.public, host, i)
		if err != nil {
			t.Fatalf("object %d after restart: %v", i, err)
		}
		if resp.status != http.StatusOK || !bytes.Equal(resp.body, crashBody(objectPath(i))) {
			damaged++
			if damaged <= 5 {
				t.Errorf("object %d after restart: status %d, %d bytes, Cache-Status %q: body differs from the origin's",
					i, resp.status, len(resp.body), resp.cacheStatus)
			}
		}
		if strings.Contains(resp.cacheStatus, "hit") {
			hits++
		}
	}
	if damaged > 0 {
		t.Errorf("%d of %d responses damaged after the crash", damaged, crashObjects)
	}
	// The test means something only if the crash left objects on disk.
	if hits == 0 {
		t.Errorf("no object was a hit after the restart (%d fetched before the crash): nothing survived on disk", fetchedBeforeCrash)
	}
	t.Logf("fetched before SIGKILL: %d; disk hits after restart: %d of %d", fetchedBeforeCrash, hits, crashObjects)
	if c := metricValue(t, q.admin, "edged_storage_corrupt_entries_total"); c != 0 {
		t.Errorf("edged_storage_corrupt_entries_total = %v after the crash, want 0 (bbolt commits are atomic)", c)
	}

	if code := q.stop(t); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d", code)
	}
	checkBoltFile(t, filepath.Join(data, "edged.db"))
}

func objectPath(i int64) string { return fmt.Sprintf("/obj/%d", i) }

type objectResponse struct {
	status      int
	body        []byte
	cacheStatus string
}

func getObject(ctx context.Context, base, host string, i int64) (*objectResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+objectPath(i), nil)
	if err != nil {
		return nil, err
	}
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &objectResponse{status: resp.StatusCode, body: body, cacheStatus: resp.Header.Get("Cache-Status")}, nil
}

// metricValue returns the value of an unlabelled metric from admin's
// /metrics (-1 when absent).
func metricValue(t testing.TB, admin, name string) float64 {
	t.Helper()
	_, text := fetch(t, admin+"/metrics")
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// checkBoltFile runs bbolt's consistency check (tx.Check) on a closed file.
func checkBoltFile(t testing.TB, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("open %s for check: %v", path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		var errs []error
		for e := range tx.Check() {
			errs = append(errs, e)
		}
		return errors.Join(errs...)
	})
	if err != nil {
		t.Fatalf("bbolt check of %s: %v", path, err)
	}
}
