package edge

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"edged/storage"
)

// TestKeptBodyFilesNeverServeOldBytes: the store keeps hot body files open
// between hits (storage's descriptor cache). While clients hit a 100 KiB
// object over real connections, the object is replaced again and again,
// by a hard purge and by a refetch of an expired copy (a newer record, a
// new body file); each version's body is one byte repeated. No response
// may mix versions or come short (a descriptor shared by two responses, or
// given back unrewound), and a request sent after a new version was served
// may never get an older one (a descriptor of a removed file kept).
// It fails when the cache keeps a descriptor of a removed body file under
// the entry's key instead of the file's id, or gives one back unrewound.
func TestKeptBodyFilesNeverServeOldBytes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		memory int64
	}{
		{"memory tier", 0},
		// A memory tier of 64 KiB keeps no entry over it: every hit reads
		// the record from bbolt.
		{"disk tier", 64 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const size = 100 << 10
			c := newClock()
			var version atomic.Int64
			o := newOrigin(t, c, func(w http.ResponseWriter, _ *http.Request) {
				v := version.Load()
				w.Header().Set("Cache-Control", "max-age=60")
				w.Header().Set("Content-Type", "application/octet-stream")
				w.Header().Set("Content-Length", strconv.Itoa(size))
				_, _ = w.Write(bytes.Repeat([]byte{byte(v)}, size))
			})
			e := newEdge(t, c, edgeConfig{upstream: o.URL, memory: tc.memory})
			get := func(client *http.Client) (int64, error) {
				req, _ := http.NewRequest(http.MethodGet, e.URL+"/obj", nil)
				req.Host = "h.example"
				resp, err := client.Do(req)
				if err != nil {
					return 0, err
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				if err != nil {
					return 0, err
				}
				if resp.StatusCode != http.StatusOK || len(b) != size {
					return 0, fmt.Errorf("status %d, %d bytes, want 200 and %d", resp.StatusCode, len(b), size)
				}
				if n := bytes.Count(b, b[:1]); n != size {
					return 0, fmt.Errorf("mixed body: %d of %d bytes are %d", n, size, b[0])
				}
				return int64(b[0]), nil
			}

			// served is the newest version a response has carried: a
			// request sent later must not get an older one.
			var served atomic.Int64
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			errs := make(chan error, 4)
			var hits atomic.Int64
			for range 4 {
				wg.Go(func() {
					client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
					defer client.CloseIdleConnections()
					for ctx.Err() == nil {
						floor := served.Load()
						v, err := get(client)
						if err == nil && v < floor {
							err = fmt.Errorf("version %d served after version %d was", v, floor)
						}
						if err != nil {
							errs <- err
							return
						}
						hits.Add(1)
					}
				})
			}
			client := &http.Client{}
			for v := int64(1); v <= 40; v++ {
				version.Store(v)
				if v%2 == 0 {
					if _, err := e.store.Purge(storage.Purge{Keys: []string{"http://h.example/obj"}}); err != nil {
						t.Fatal(err)
					}
				} else {
					c.Advance(2 * time.Minute) // expired: the next request refetches it
				}
				got, err := get(client)
				if err != nil {
					t.Fatal(err)
				}
				if got != v {
					t.Fatalf("version %d served after version %d was stored", got, v)
				}
				served.Store(v)
				e.settle(t)
				e.store.Flush()
				// Let the hitters take and give back the new file's
				// descriptors before the next replacement.
				waitFor(t, func() bool { return hits.Load() >= 8*v || len(errs) > 0 })
			}
			cancel()
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

// TestBodyFileTruncatedWhileKept: a body file truncated under a running
// node after a hit (its descriptor kept open by the store, not checked
// again) is never passed off as whole: the client gets a short body and
// the connection closed, and the entry is deleted, so the next request is
// a miss answered in full by the origin.
func TestBodyFileTruncatedWhileKept(t *testing.T) {
	e, o, body, dir := bodyFileEdge(t)
	if resp, got := e.get(t, "/big"); !isHit(resp) || got != string(body) {
		t.Fatalf("hit=%v, equal=%v", isHit(resp), got == string(body))
	}
	if err := os.Truncate(onlyBodyFilePath(t, dir), 100<<10); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(e.URL + "/big")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || len(got) >= len(body) {
		t.Fatalf("truncated body file: read %d bytes, err %v; want a short body and an error", len(got), err)
	}
	if resp, got := e.get(t, "/big"); isHit(resp) || got != string(body) {
		t.Fatalf("after the short response: hit=%v, equal=%v; want a miss answered in full", isHit(resp), got == string(body))
	}
	if n := o.requests.Load(); n != 2 {
		t.Fatalf("origin saw %d requests, want 2 (fill, refetch)", n)
	}
}

// bodyFileEdge is an edge whose disk tier holds /big (200 KiB of random
// bytes, from o) in a body file under dir; its memory tier of 256 KiB
// keeps no entry that large.
func bodyFileEdge(t *testing.T) (e *testEdge, o *testOrigin, body []byte, dir string) {
	t.Helper()
	c := newClock()
	body = randomBody(t, 200<<10)
	o = fileOrigin(t, c, body)
	dir = t.TempDir()
	e = newEdge(t, c, edgeConfig{upstream: o.URL, memory: 256 << 10, dir: dir})
	e.diskFilled(t, "/big")
	return e, o, body, dir
}
