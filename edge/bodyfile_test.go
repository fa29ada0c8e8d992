package edge

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

// fileOrigin serves body at every path, cacheable for an hour, with
// validators, as bytes that do not compress (no compressed variant).
func fileOrigin(t *testing.T, c *clock, body []byte) *testOrigin {
	return newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Etag", `"v1"`)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})
}

func randomBody(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// diskFilled makes the edge's fill of path land on disk.
func (e *testEdge) diskFilled(t *testing.T, path string) {
	t.Helper()
	e.get(t, path)
	e.settle(t)
	e.store.Flush()
}

// TestDiskHitFromBodyFile: a large object the disk tier keeps in a file of
// its own is served whole, by range (one and several), to HEAD and to a
// conditional request, over HTTP/1.1 and over TLS with HTTP/2 (where the
// body is copied rather than sent with sendfile), byte for byte.
func TestDiskHitFromBodyFile(t *testing.T) {
	c := newClock()
	body := randomBody(t, 300<<10)
	o := fileOrigin(t, c, body)
	// A memory tier of 256 KiB keeps nothing over 64 KiB: every hit is a
	// disk hit.
	e := newEdge(t, c, edgeConfig{upstream: o.URL, memory: 256 << 10})
	e.diskFilled(t, "/big")
	if n := countBodyFiles(t, e.dir); n != 1 {
		t.Fatalf("%d body files after the fill, want 1", n)
	}

	tls := httptest.NewUnstartedServer(e.handler)
	tls.EnableHTTP2 = true
	tls.StartTLS()
	defer tls.Close()
	for _, srv := range []*httptest.Server{e.Server, tls} {
		client := srv.Client()
		get := func(method string, fields ...string) (*http.Response, []byte) {
			t.Helper()
			req, _ := http.NewRequest(method, srv.URL+"/big", nil)
			for i := 0; i+1 < len(fields); i += 2 {
				req.Header.Set(fields[i], fields[i+1])
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			return resp, b
		}
		if srv == tls { // https: a key of its own, filled once
			get(http.MethodGet)
			e.settle(t)
			e.store.Flush()
		}
		resp, got := get(http.MethodGet)
		if !isHit(resp) || !bytes.Equal(got, body) || resp.ContentLength != int64(len(body)) {
			t.Fatalf("%s: hit=%v (%s), %d bytes (Content-Length %d), equal=%v", resp.Proto, isHit(resp), cacheStatus(resp), len(got), resp.ContentLength, bytes.Equal(got, body))
		}
		resp, got = get(http.MethodGet, "Range", "bytes=1000-1999")
		if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, body[1000:2000]) {
			t.Fatalf("%s: range: %d, %d bytes, equal=%v", resp.Proto, resp.StatusCode, len(got), bytes.Equal(got, body[1000:2000]))
		}
		resp, got = get(http.MethodGet, "Range", "bytes=0-9,-10")
		_, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		mr := multipart.NewReader(bytes.NewReader(got), params["boundary"])
		for i, want := range [][]byte{body[:10], body[len(body)-10:]} {
			part, err := mr.NextPart()
			if err != nil {
				t.Fatalf("%s: multipart part %d: %v", resp.Proto, i, err)
			}
			if b, _ := io.ReadAll(part); !bytes.Equal(b, want) {
				t.Fatalf("%s: part %d = %x, want %x", resp.Proto, i, b, want)
			}
		}
		resp, got = get(http.MethodHead)
		if resp.ContentLength != int64(len(body)) || len(got) != 0 {
			t.Fatalf("%s: HEAD: Content-Length %d, %d body bytes", resp.Proto, resp.ContentLength, len(got))
		}
		if resp, _ = get(http.MethodGet, "If-None-Match", `"v1"`); resp.StatusCode != http.StatusNotModified {
			t.Fatalf("%s: If-None-Match: %d, want 304", resp.Proto, resp.StatusCode)
		}
	}
	if n := o.requests.Load(); n != 2 {
		t.Fatalf("origin saw %d requests, want the two fills alone", n)
	}
}

// TestDiskHitFromBodyFileAllocatesNoBody: a disk hit on a large object
// does not copy its body through the heap (before body files it was
// decoded out of bbolt into a fresh slice per hit, and collected).
func TestDiskHitFromBodyFileAllocatesNoBody(t *testing.T) {
	c := newClock()
	const size = 4 << 20
	o := fileOrigin(t, c, randomBody(t, size))
	e := newEdge(t, c, edgeConfig{upstream: o.URL, memory: 256 << 10})
	e.diskFilled(t, "/big")
	hit := func() {
		resp, err := http.Get(e.URL + "/big")
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if n != size || !isHit(resp) {
			t.Fatalf("hit: %d bytes, %s", n, cacheStatus(resp))
		}
	}
	hit() // warm: connections, pools
	const hits = 5
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range hits {
		hit()
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > size {
		t.Fatalf("%d hits of a %d-byte object allocated %d bytes: the body went through the heap", hits, size, got)
	}
}

// TestDamagedBodyFileRefetched: a body file damaged while the node was
// down is detected at its first open and never served: the request is a
// miss, the origin answers it, and the entry is stored again.
func TestDamagedBodyFileRefetched(t *testing.T) {
	e, o, body, dir := bodyFileEdge(t)
	c := newClock()
	e.stop()
	path := onlyBodyFilePath(t, dir)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[100<<10] ^= 0xff
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	e = newEdge(t, c, edgeConfig{upstream: o.URL, memory: 256 << 10, dir: dir})
	resp, got := e.get(t, "/big")
	if isHit(resp) || got != string(body) {
		t.Fatalf("damaged body file: hit=%v, equal=%v; want a miss answered by the origin", isHit(resp), got == string(body))
	}
	if n := o.requests.Load(); n != 2 {
		t.Fatalf("origin saw %d requests, want 2 (fill, refetch)", n)
	}
	e.settle(t)
	e.store.Flush()
	if resp, got = e.get(t, "/big"); !isHit(resp) || got != string(body) {
		t.Fatalf("after the refetch: hit=%v, equal=%v", isHit(resp), got == string(body))
	}
}

func countBodyFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	_ = filepath.WalkDir(filepath.Join(dir, "bodies"), func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

func onlyBodyFilePath(t *testing.T, dir string) string {
	t.Helper()
	var found []string
	_ = filepath.WalkDir(filepath.Join(dir, "bodies"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			found = append(found, p)
		}
		return nil
	})
	if len(found) != 1 {
		t.Fatalf("body files %v, want one", found)
	}
	return found[0]
}

// TestCompressedVariantOfBodyFile: a compressible body kept in a file is
// read whole, once, to make its compressed variant; the client that
// accepts gzip gets the same bytes back, the one that does not gets the
// file itself.
func TestCompressedVariantOfBodyFile(t *testing.T) {
	c := newClock()
	body := bytes.Repeat([]byte("edged keeps large bodies in files. "), 6000) // 210 KB of text
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(body)
	})
	e := compressingEdge(t, c, o.URL)
	rawGet(t, e.URL+"/text") // the fill
	e.settle(t)
	e.store.Flush()
	for _, enc := range []string{"gzip", "identity"} {
		resp, got := rawGet(t, e.URL+"/text", "Accept-Encoding", enc)
		if resp.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(got))
			if err != nil {
				t.Fatal(err)
			}
			if got, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		} else if enc == "gzip" {
			t.Fatalf("Accept-Encoding gzip: Content-Encoding %q", resp.Header.Get("Content-Encoding"))
		}
		if !isHit(resp) || !bytes.Equal(got, body) {
			t.Fatalf("%s: hit=%v (%s), %d bytes; want the %d-byte body", enc, isHit(resp), cacheStatus(resp), len(got), len(body))
		}
	}
	if n := o.requests.Load(); n != 1 {
		t.Fatalf("origin saw %d requests, want the fill alone", n)
	}
}
