package edge

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"edged/edge/policy"
	"edged/storage"
)

const (
	sliceSize = 1 << 20
	bigSize   = 64 << 20
)

// rangeOrigin is a loopback origin (testOrigin) that serves one object
// with Range support (http.ServeContent), counting body bytes sent.
type rangeOrigin struct {
	*testOrigin
	bytes atomic.Int64

	mu      sync.Mutex
	body    []byte
	etag    string
	cc      string
	vary    string // a Vary field, when not empty
	noRange bool   // ignore Range: always the whole 200
	// wholeFrom, when above 0, ignores a Range whose first byte is at or
	// past it: bytes=0-N is honoured, a later slice gets the whole 200.
	wholeFrom int64
	extra     []string // more response fields, name/value pairs
	// gate, when set, holds every answer until opened.
	gate *gate
}

func newRangeOrigin(t *testing.T, c *clock, body []byte, etag string) *rangeOrigin {
	t.Helper()
	o := &rangeOrigin{body: body, etag: etag, cc: "max-age=3600"}
	o.testOrigin = newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		body, etag, cc, vary, noRange, g, extra := o.body, o.etag, o.cc, o.vary, o.noRange, o.gate, o.extra
		if o.wholeFrom > 0 && rangeStart(r.Header.Get("Range")) >= o.wholeFrom {
			noRange = true
		}
		o.mu.Unlock()
		if g != nil {
			g.wait()
		}
		for i := 0; i+1 < len(extra); i += 2 {
			w.Header().Add(extra[i], extra[i+1])
		}
		w.Header().Set("Cache-Control", cc)
		if vary != "" {
			w.Header().Set("Vary", vary)
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Surrogate-Key", "media")
		if etag != "" {
			w.Header().Set("Etag", etag)
		}
		if noRange {
			r.Header.Del("Range")
		}
		http.ServeContent(countingWriter{w, &o.bytes}, r, "", time.Time{}, bytes.NewReader(body))
	})
	return o
}

// newHeldRangeOrigin is newRangeOrigin whose answers wait until g is
// opened; the test's cleanup opens it, so a failing test cannot hang.
func newHeldRangeOrigin(t *testing.T, c *clock, body []byte, etag string) (o *rangeOrigin, g *gate) {
	t.Helper()
	o, g = newRangeOrigin(t, c, body, etag), newGate()
	o.gate = g
	t.Cleanup(g.open)
	return o, g
}

// rangeStart is the first byte of a Range field "bytes=a-b", -1 when it
// names none.
func rangeStart(v string) int64 {
	var a int64
	if _, err := fmt.Sscanf(v, "bytes=%d-", &a); err != nil {
		return -1
	}
	return a
}

func (o *rangeOrigin) change(body []byte, etag string) {
	o.mu.Lock()
	o.body, o.etag = body, etag
	o.mu.Unlock()
}

// seenRanges is the Range of each request the origin received, in order.
func (o *rangeOrigin) seenRanges() []string {
	o.testOrigin.mu.Lock()
	defer o.testOrigin.mu.Unlock()
	ranges := make([]string, len(o.seen))
	for i, r := range o.seen {
		ranges[i] = r.Header.Get("Range")
	}
	return ranges
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n.Add(int64(n))
	return n, err
}

// newSliceEdge is an edge whose one route keeps objects in slices.
func newSliceEdge(t *testing.T, c *clock, upstream string, slice, maxObject int64) *testEdge {
	t.Helper()
	return newEdge(t, c, edgeConfig{upstream: upstream, slice: slice, maxObject: maxObject, memory: 64 << 20})
}

// patterned is n bytes that differ with every offset and seed.
func patterned(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7+i>>11) ^ seed
	}
	return b
}

// getRange asks the edge for path with a Range field ("" for none) and
// returns the response and its body (err set when the body was cut).
func getRange(t *testing.T, e *testEdge, method, path, rng string, fields ...string) (*http.Response, []byte, error) {
	t.Helper()
	req, _ := http.NewRequest(method, e.URL+path, nil)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	for i := 0; i+1 < len(fields); i += 2 {
		req.Header.Set(fields[i], fields[i+1])
	}
	resp, err := e.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// rangePart is one part of a multipart/byteranges body.
type rangePart struct {
	contentRange string
	body         []byte
}

// byteRangeParts reads the parts of resp's multipart/byteranges body
// (RFC 9110 §14.6), up to the first that cannot be read.
func byteRangeParts(resp *http.Response, body []byte) []rangePart {
	_, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var parts []rangePart
	for {
		p, err := mr.NextPart()
		if err != nil {
			return parts
		}
		b, _ := io.ReadAll(p)
		parts = append(parts, rangePart{p.Header.Get("Content-Range"), b})
	}
}

// sliceKeys lists the slice entries stored for path.
func sliceKeys(t *testing.T, e *testEdge, path string) []string {
	t.Helper()
	e.store.Flush()
	key := policy.Key("http://" + e.Listener.Addr().String() + path)
	held, _, err := e.store.Family(string(key), 10000)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, h := range held {
		if strings.HasPrefix(h.Entry.Key, key.SliceFamily()) {
			keys = append(keys, h.Entry.Key)
		}
	}
	return keys
}

// wantNoSlices fails t if any slice of path is stored.
func wantNoSlices(t *testing.T, e *testEdge, path string) {
	t.Helper()
	if keys := sliceKeys(t, e, path); len(keys) != 0 {
		t.Errorf("slices of %s stored: %q", path, keys)
	}
}

// TestSliceRangeInTheMiddle: a range in the middle of a 64 MiB object
// costs the upstream only the slices it covers, each asked for with a
// Range aligned to slice boundaries; the answer is a 206 with the
// object's length; the same range again is a hit.
func TestSliceRangeInTheMiddle(t *testing.T) {
	c := newClock()
	body := patterned(bigSize, 1)
	o := newRangeOrigin(t, c, body, `"v1"`)
	e := newSliceEdge(t, c, o.URL, sliceSize, 0)

	const first, last = 30_000_000, 32_000_000 // slices 28 to 30
	resp, got, err := getRange(t, e, http.MethodGet, "/movie", fmt.Sprintf("bytes=%d-%d", first, last))
	if err != nil || resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("status %d, err %v", resp.StatusCode, err)
	}
	if want := fmt.Sprintf("bytes %d-%d/%d", first, last, bigSize); resp.Header.Get("Content-Range") != want {
		t.Errorf("Content-Range %q, want %q", resp.Header.Get("Content-Range"), want)
	}
	if !bytes.Equal(got, body[first:last+1]) {
		t.Fatalf("body differs from the object's bytes %d-%d", first, last)
	}
	wantRanges := []string{"bytes=29360128-30408703", "bytes=30408704-31457279", "bytes=31457280-32505855"}
	if got := o.seenRanges(); strings.Join(got, " ") != strings.Join(wantRanges, " ") {
		t.Errorf("upstream ranges %q, want %q", got, wantRanges)
	}
	if n := o.bytes.Load(); n != 3*sliceSize {
		t.Errorf("upstream sent %d bytes, want %d (three slices)", n, 3*sliceSize)
	}
	if keys := sliceKeys(t, e, "/movie"); len(keys) != 3 {
		t.Errorf("stored slices %q, want 3", keys)
	}

	resp, got, err = getRange(t, e, http.MethodGet, "/movie", fmt.Sprintf("bytes=%d-%d", first+1, last-1))
	if err != nil || resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, body[first+1:last]) {
		t.Fatalf("second range: status %d, err %v, body equal %v", resp.StatusCode, err, bytes.Equal(got, body[first+1:last]))
	}
	if !strings.Contains(resp.Header.Get("Cache-Status"), "hit") {
		t.Errorf("second range Cache-Status %q, want a hit", resp.Header.Get("Cache-Status"))
	}
	if n := o.requests.Load(); n != 3 {
		t.Errorf("upstream requests %d, want still 3", n)
	}

	// A stale slice is validated: the origin's 304 refreshes it without
	// its bytes.
	c.Advance(2 * time.Hour)
	resp, got, err = getRange(t, e, http.MethodGet, "/movie", fmt.Sprintf("bytes=%d-%d", first, first+9))
	if err != nil || resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, body[first:first+10]) {
		t.Fatalf("stale range: status %d, err %v", resp.StatusCode, err)
	}
	if cs := resp.Header.Get("Cache-Status"); !strings.Contains(cs, "fwd=stale; fwd-status=304") {
		t.Errorf("stale range Cache-Status %q, want fwd=stale; fwd-status=304", cs)
	}
	if n, b := o.requests.Load(), o.bytes.Load(); n != 4 || b != 3*sliceSize {
		t.Errorf("upstream requests %d, bytes %d; want 4 and still %d (a 304 for the stale slice)", n, b, 3*sliceSize)
	}
	resp, _, _ = getRange(t, e, http.MethodGet, "/movie", fmt.Sprintf("bytes=%d-%d", first, first+9))
	if cs := resp.Header.Get("Cache-Status"); !strings.Contains(cs, "hit") || o.requests.Load() != 4 {
		t.Errorf("after the 304: Cache-Status %q, upstream requests %d; want a hit and 4", cs, o.requests.Load())
	}
}

// TestSliceFullGetAssembled: a GET of the whole object is a 200 assembled
// from every slice in order; HEAD tells the length without a body.
func TestSliceFullGetAssembled(t *testing.T) {
	c := newClock()
	body := patterned(16<<20+12345, 2) // a short last slice
	o := newRangeOrigin(t, c, body, `"v1"`)
	e := newSliceEdge(t, c, o.URL, sliceSize, 0)

	resp, _, err := getRange(t, e, http.MethodHead, "/movie", "")
	if err != nil || resp.StatusCode != http.StatusOK || resp.ContentLength != int64(len(body)) {
		t.Fatalf("HEAD: status %d, length %d, err %v", resp.StatusCode, resp.ContentLength, err)
	}
	// The bodies held in memory while the GET runs: one slice at a time,
	// never the object (sampled, so a short peak may go unseen).
	var peak atomic.Int64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			peak.Store(max(peak.Load(), e.handler.bodies.used.Load()))
			select {
			case <-done:
				return
			case <-time.After(100 * time.Microsecond):
			}
		}
	}()
	resp, got, err := getRange(t, e, http.MethodGet, "/movie", "")
	close(done)
	<-sampled
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: status %d, err %v", resp.StatusCode, err)
	}
	if p := peak.Load(); p > 2*(sliceSize+1) {
		t.Errorf("bodies held in memory peaked at %d bytes during the GET, want at most a slice or two", p)
	}
	if sha256.Sum256(got) != sha256.Sum256(body) {
		t.Fatalf("assembled body (%d bytes) differs from the object (%d bytes)", len(got), len(body))
	}
	if n, want := o.requests.Load(), int64(16+1); n != want {
		t.Errorf("upstream requests %d, want %d (one per slice)", n, want)
	}
	_, got, err = getRange(t, e, http.MethodGet, "/movie", "")
	if err != nil || sha256.Sum256(got) != sha256.Sum256(body) {
		t.Fatalf("second GET from stored slices differs: err %v", err)
	}
	if n, want := o.requests.Load(), int64(16+1); n != want {
		t.Errorf("upstream requests %d after a second GET, want still %d", n, want)
	}
}

// TestSliceRangesAndPreconditions: suffix, open and multiple ranges,
// unsatisfiable ranges, If-Range and If-None-Match are answered from the
// slices as RFC 9110 §13 and §14 say.
func TestSliceRangesAndPreconditions(t *testing.T) {
	c := newClock()
	body := patterned(3*sliceSize+100, 3)
	size := len(body)
	o := newRangeOrigin(t, c, body, `"v1"`)
	e := newSliceEdge(t, c, o.URL, sliceSize, 0)

	for _, tc := range []struct {
		rng, ifRange string
		status       int
		want         []byte
		contentRange string
	}{
		{rng: "bytes=-100", status: 206, want: body[size-100:], contentRange: fmt.Sprintf("bytes %d-%d/%d", size-100, size-1, size)},
		{rng: fmt.Sprintf("bytes=%d-", sliceSize-5), status: 206, want: body[sliceSize-5:], contentRange: fmt.Sprintf("bytes %d-%d/%d", sliceSize-5, size-1, size)},
		{rng: fmt.Sprintf("bytes=%d-", size), status: 416, contentRange: fmt.Sprintf("bytes */%d", size)},
		{rng: "bytes=100000000-", status: 416, contentRange: fmt.Sprintf("bytes */%d", size)},            // the upstream's 416, for slice 95
		{rng: "bytes=0-0", status: 206, want: body[:1], contentRange: fmt.Sprintf("bytes 0-0/%d", size)}, // the 416 was not stored
		{rng: "bytes=0-9", ifRange: `"v1"`, status: 206, want: body[:10], contentRange: fmt.Sprintf("bytes 0-9/%d", size)},
		{rng: "bytes=0-9", ifRange: `"v0"`, status: 200, want: body},
		{rng: "items=0-9", status: 200, want: body},
		{rng: "bytes=0-,0-", status: 200, want: body}, // more than the object: ignored
		{rng: "bytes=9223372036854775000-", status: 416, contentRange: fmt.Sprintf("bytes */%d", size)},
	} {
		var fields []string
		if tc.ifRange != "" {
			fields = []string{"If-Range", tc.ifRange}
		}
		resp, got, err := getRange(t, e, http.MethodGet, "/f", tc.rng, fields...)
		if err != nil || resp.StatusCode != tc.status || !bytes.Equal(got, tc.want) && tc.want != nil ||
			resp.Header.Get("Content-Range") != tc.contentRange {
			t.Errorf("Range %q If-Range %q: status %d (want %d), Content-Range %q (want %q), %d bytes (want %d), err %v",
				tc.rng, tc.ifRange, resp.StatusCode, tc.status, resp.Header.Get("Content-Range"), tc.contentRange, len(got), len(tc.want), err)
		}
	}

	resp, got, err := getRange(t, e, http.MethodGet, "/f", fmt.Sprintf("bytes=0-9,%d-%d", 2*sliceSize-5, 2*sliceSize+4))
	if err != nil || resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("multiple ranges: status %d, err %v", resp.StatusCode, err)
	}
	parts := byteRangeParts(resp, got)
	for i, want := range []rangePart{
		{fmt.Sprintf("bytes 0-9/%d", size), body[:10]},
		{fmt.Sprintf("bytes %d-%d/%d", 2*sliceSize-5, 2*sliceSize+4, size), body[2*sliceSize-5 : 2*sliceSize+5]},
	} {
		if i >= len(parts) {
			t.Fatalf("multipart: %d parts, want at least %d", len(parts), i+1)
		}
		if p := parts[i]; p.contentRange != want.contentRange || !bytes.Equal(p.body, want.body) {
			t.Errorf("part %q (%d bytes), want %q", p.contentRange, len(p.body), want.contentRange)
		}
	}

	resp, _, _ = getRange(t, e, http.MethodGet, "/f", "", "If-None-Match", `"v1"`)
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match of the stored ETag: status %d, want 304", resp.StatusCode)
	}
	before := o.requests.Load()
	resp, _, _ = getRange(t, e, http.MethodGet, "/other", "bytes=0-9", "Cache-Control", "only-if-cached")
	if resp.StatusCode != http.StatusGatewayTimeout || o.requests.Load() != before {
		t.Errorf("only-if-cached of an object not stored: status %d, upstream asked %d times; want 504 and none",
			resp.StatusCode, o.requests.Load()-before)
	}
}

// TestSliceConcurrentRangesShareFetches: concurrent identical range
// requests make one upstream fetch per slice.
func TestSliceConcurrentRangesShareFetches(t *testing.T) {
	c := newClock()
	body := patterned(8*sliceSize, 4)
	o, g := newHeldRangeOrigin(t, c, body, `"v1"`)
	e := newSliceEdge(t, c, o.URL, sliceSize, 0)

	const clients = 16
	rng := fmt.Sprintf("bytes=%d-%d", 3*sliceSize+10, 4*sliceSize+10) // slices 3 and 4
	var wg sync.WaitGroup
	errs := make(chan string, clients)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, e.URL+"/movie", nil)
			req.Header.Set("Range", rng)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != http.StatusPartialContent || !bytes.Equal(b, body[3*sliceSize+10:4*sliceSize+11]) {
				errs <- fmt.Sprintf("status %d, %d bytes, err %v", resp.StatusCode, len(b), err)
			}
		}()
	}
	// Every request waits on the first slice's one fetch before the
	// origin answers it; the second slice's is shared as they arrive.
	waitJoined(t, e, clients-1)
	g.open()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := o.requests.Load(); n != 2 {
		t.Errorf("upstream requests %d, want 2 (one per slice) for %d concurrent clients; ranges %q", n, clients, o.seenRanges())
	}
}

// A slice's late requests, held between their lookup of the slice and
// their join until its flight has stored it and ended, are answered from
// the store: one upstream fetch (TestLateJoinersServeWhatTheFlightStored).
func TestSliceLateJoinersServeWhatTheFlightStored(t *testing.T) {
	c := newClock()
	body := patterned(2*sliceSize, 7)
	o, g := newHeldRangeOrigin(t, c, body, `"v1"`)
	e := newSliceEdge(t, c, o.URL, sliceSize, 0)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: lateJoiners + 1}}
	defer client.CloseIdleConnections()
	checkLateJoiners(t, e, o.requests.Load, g, http.StatusPartialContent, body[10:100], func() lateJoin {
		req, _ := http.NewRequest(http.MethodGet, e.URL+"/movie", nil)
		req.Header.Set("Range", "bytes=10-99") // within slice 0
		return readLateJoin(client.Do(req))
	})
}

// TestSliceValidatorChange: slices of two versions of an object are never
// sent in one response. A stored slice of an older version is dropped and
// fetched again; when the upstream's slice differs from those already
// sent, the response is cut and the object's slices are dropped, so the
// next request gets one version whole.
func TestSliceValidatorChange(t *testing.T) {
	c := newClock()
	v1, v2 := patterned(4*sliceSize, 5), patterned(4*sliceSize, 6)
	o := newRangeOrigin(t, c, v1, `"v1"`)
	e := newSliceEdge(t, c, o.URL, sliceSize, 0)

	// v1's slice 1 stored; the origin moves to v2.
	if resp, _, err := getRange(t, e, http.MethodGet, "/f", fmt.Sprintf("bytes=%d-%d", sliceSize, sliceSize+9)); err != nil || resp.StatusCode != 206 {
		t.Fatalf("status %d, err %v", resp.StatusCode, err)
	}
	o.change(v2, `"v2"`)

	// Slice 0 comes from the upstream (v2); the stored slice 1 (v1) does
	// not match it: dropped and fetched again.
	rng := fmt.Sprintf("bytes=%d-%d", sliceSize-10, sliceSize+9)
	resp, got, err := getRange(t, e, http.MethodGet, "/f", rng)
	if err != nil || resp.StatusCode != 206 || !bytes.Equal(got, v2[sliceSize-10:sliceSize+10]) {
		t.Fatalf("range over a new slice 0 and an old slice 1: status %d, err %v, v2 bytes %v", resp.StatusCode, err, bytes.Equal(got, v2[sliceSize-10:sliceSize+10]))
	}
	if etag := resp.Header.Get("Etag"); etag != `"v2"` {
		t.Errorf("ETag %q, want \"v2\"", etag)
	}

	// Now slices 0 and 1 are v2's; the origin moves to v3. Slice 1 is
	// served from the store, then slice 2 arrives from v3: cut.
	v3 := patterned(4*sliceSize, 7)
	o.change(v3, `"v3"`)
	rng = fmt.Sprintf("bytes=%d-%d", sliceSize, 2*sliceSize+9)
	resp, got, err = getRange(t, e, http.MethodGet, "/f", rng)
	if err == nil {
		t.Fatalf("a response spanning v2's slice 1 and v3's slice 2 was sent whole (status %d, %d bytes)", resp.StatusCode, len(got))
	}
	if n := len(got); n > sliceSize || !bytes.Equal(got, v2[sliceSize:sliceSize+n]) {
		t.Errorf("the cut response holds %d bytes, not a prefix of one version", n)
	}
	wantNoSlices(t, e, "/f")
	resp, got, err = getRange(t, e, http.MethodGet, "/f", rng)
	if err != nil || resp.StatusCode != 206 || !bytes.Equal(got, v3[sliceSize:2*sliceSize+10]) {
		t.Errorf("the next request: status %d, err %v, v3 bytes %v", resp.StatusCode, err, bytes.Equal(got, v3[sliceSize:2*sliceSize+10]))
	}
}

// TestSliceOriginIgnoresRange: an origin that answers a slice's Range with
// the whole 200 (RFC 9110 §14.2 lets it) has its object stored whole and
// served by range from it; one larger than max_object is streamed to its
// client (only the range it asked for: the bytes before it are read and
// dropped) and stored nowhere.
func TestSliceOriginIgnoresRange(t *testing.T) {
	c := newClock()
	body := patterned(3*sliceSize, 8)
	o := newRangeOrigin(t, c, body, `"v1"`)
	o.noRange = true
	e := newSliceEdge(t, c, o.URL, sliceSize, 4*sliceSize)

	rng := fmt.Sprintf("bytes=%d-%d", 2*sliceSize, 2*sliceSize+99)
	for i := range 2 {
		resp, got, err := getRange(t, e, http.MethodGet, "/f", rng)
		if err != nil || resp.StatusCode != 206 || !bytes.Equal(got, body[2*sliceSize:2*sliceSize+100]) {
			t.Fatalf("request %d: status %d, err %v, %d bytes", i, resp.StatusCode, err, len(got))
		}
	}
	if n := o.requests.Load(); n != 1 {
		t.Errorf("upstream requests %d, want 1 (the whole object stored)", n)
	}

	big := patterned(5*sliceSize, 9) // over max_object
	o.change(big, `"v1"`)
	resp, got, err := getRange(t, e, http.MethodGet, "/big", rng)
	if err != nil || resp.StatusCode != 206 || !bytes.Equal(got, big[2*sliceSize:2*sliceSize+100]) {
		t.Fatalf("over max_object: status %d, err %v, %d bytes (want the range's 100)", resp.StatusCode, err, len(got))
	}
	resp, got, err = getRange(t, e, http.MethodGet, "/big", "")
	if err != nil || resp.StatusCode != 200 || !bytes.Equal(got, big) {
		t.Fatalf("over max_object, whole: status %d, err %v, %d bytes (want the whole %d)", resp.StatusCode, err, len(got), len(big))
	}
	wantNoSlices(t, e, "/big")
}

// TestSliceBadContentRange: a 206 for other bytes than the slice asked for
// is never stored nor sent as the slice.
func TestSliceBadContentRange(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Etag", `"v1"`)
		w.Header().Set("Content-Range", "bytes 4-9/10")
		w.WriteHeader(http.StatusPartialContent)
		_, _ = io.WriteString(w, "456789")
	})
	e := newSliceEdge(t, c, o.URL, sliceSize, 0)
	resp, _, _ := getRange(t, e, http.MethodGet, "/f", "bytes=-5")
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("status %d, want 502", resp.StatusCode)
	}
	wantNoSlices(t, e, "/f")
}

// TestSliceUpstream416NotStored: the upstream's 416 answers one slice's
// range, not the object: even a cacheable one is passed on, never stored
// where the object's own answer is kept.
func TestSliceUpstream416NotStored(t *testing.T) {
	c := newClock()
	body := patterned(2*sliceSize, 12)
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Etag", `"v1"`)
		if r.Header.Get("Range") == fmt.Sprintf("bytes=%d-%d", 9*sliceSize, 10*sliceSize-1) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(body)))
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	})
	e := newSliceEdge(t, c, o.URL, sliceSize, 0)
	resp, _, _ := getRange(t, e, http.MethodGet, "/f", fmt.Sprintf("bytes=%d-", 9*sliceSize+5))
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes */%d", len(body)) {
		t.Errorf("status %d, Content-Range %q; want 416 with the length", resp.StatusCode, resp.Header.Get("Content-Range"))
	}
	resp, got, err := getRange(t, e, http.MethodGet, "/f", "bytes=0-9")
	if err != nil || resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, body[:10]) {
		t.Errorf("a range of the object after a 416: status %d, %d bytes, err %v", resp.StatusCode, len(got), err)
	}
}

// TestSliceWithoutStrongValidator: slices without a strong validator are
// never combined (RFC 9111 §3.4): a range within one slice is served from
// it, one across slices is passed through whole to the upstream, and
// nothing is stored.
func TestSliceWithoutStrongValidator(t *testing.T) {
	c := newClock()
	body := patterned(3*sliceSize, 13)
	o := newRangeOrigin(t, c, body, `W/"weak"`)
	e := newSliceEdge(t, c, o.URL, sliceSize, 0)

	resp, got, err := getRange(t, e, http.MethodGet, "/f", "bytes=10-19")
	if err != nil || resp.StatusCode != 206 || !bytes.Equal(got, body[10:20]) {
		t.Fatalf("range within a slice: status %d, err %v", resp.StatusCode, err)
	}
	rng := fmt.Sprintf("bytes=%d-%d", sliceSize-10, sliceSize+9)
	resp, got, err = getRange(t, e, http.MethodGet, "/f", rng)
	if err != nil || resp.StatusCode != 206 || !bytes.Equal(got, body[sliceSize-10:sliceSize+10]) {
		t.Fatalf("range across slices: status %d, err %v", resp.StatusCode, err)
	}
	if cs := resp.Header.Get("Cache-Status"); !strings.Contains(cs, "detail=slice-no-validator") {
		t.Errorf("Cache-Status %q, want detail=slice-no-validator", cs)
	}
	if got := o.seenRanges(); got[len(got)-1] != rng {
		t.Errorf("the upstream saw %q last, want the client's own range %q", got[len(got)-1], rng)
	}
	wantNoSlices(t, e, "/f")
}

// TestSliceVaryNotStored: a slice whose Vary names more than
// Accept-Encoding is sent but not stored (detail=slice-vary): slices are
// kept under one key per slice, with no variant to tell one request's
// from another's. Vary: Accept-Encoding alone is stored.
func TestSliceVaryNotStored(t *testing.T) {
	for _, tc := range []struct {
		vary   string
		stored bool
	}{
		{"Accept-Language", false},
		{"Accept-Encoding, Cookie", false},
		{"Accept-Encoding", true},
	} {
		t.Run(tc.vary, func(t *testing.T) {
			c := newClock()
			body := patterned(3*sliceSize, 15)
			o := newRangeOrigin(t, c, body, `"v1"`)
			o.vary = tc.vary
			e := newSliceEdge(t, c, o.URL, sliceSize, 0)
			resp, got, err := getRange(t, e, http.MethodGet, "/f", "bytes=100-199")
			if err != nil || resp.StatusCode != 206 || !bytes.Equal(got, body[100:200]) {
				t.Fatalf("status %d, err %v", resp.StatusCode, err)
			}
			cs := resp.Header.Get("Cache-Status")
			if keys := sliceKeys(t, e, "/f"); tc.stored != (len(keys) > 0) {
				t.Fatalf("stored slices %q (Cache-Status %q), want stored %v", keys, cs, tc.stored)
			}
			if !tc.stored && !strings.Contains(cs, "detail=slice-vary") {
				t.Errorf("Cache-Status %q, want detail=slice-vary", cs)
			}
		})
	}
}

// TestSlicePrivateNotStored: the object's Cache-Control governs its
// slices: private ones are sent but not stored.
func TestSlicePrivateNotStored(t *testing.T) {
	c := newClock()
	body := patterned(3*sliceSize, 10)
	o := newRangeOrigin(t, c, body, `"v1"`)
	o.cc = "private, max-age=3600"
	e := newSliceEdge(t, c, o.URL, sliceSize, 0)
	for range 2 {
		resp, got, err := getRange(t, e, http.MethodGet, "/f", "bytes=100-199")
		if err != nil || resp.StatusCode != 206 || !bytes.Equal(got, body[100:200]) {
			t.Fatalf("status %d, err %v", resp.StatusCode, err)
		}
	}
	if n := o.requests.Load(); n != 2 {
		t.Errorf("upstream requests %d, want 2 (nothing stored)", n)
	}
	wantNoSlices(t, e, "/f")
}

// TestSlicePurgedTogether: URL, prefix, tag, host and all purges remove
// every slice of an object.
func TestSlicePurgedTogether(t *testing.T) {
	c := newClock()
	body := patterned(4*sliceSize, 11)
	o := newRangeOrigin(t, c, body, `"v1"`)
	e := newSliceEdge(t, c, o.URL, sliceSize, 0)
	host := e.Listener.Addr().String()
	key := "http://" + host + "/media/f"
	for _, tc := range []struct {
		name  string
		purge storage.Purge
	}{
		{"url", storage.Purge{Keys: []string{key}}},
		{"prefix", storage.Purge{Prefixes: []string{"http://" + host + "/media/"}}},
		{"tag", storage.Purge{Tags: []string{"media"}}},
		{"host", storage.Purge{Prefixes: policy.HostKeyPrefixes(host)}},
		{"all", storage.Purge{All: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, got, err := getRange(t, e, http.MethodGet, "/media/f", "")
			if err != nil || resp.StatusCode != 200 || !bytes.Equal(got, body) {
				t.Fatalf("status %d, err %v", resp.StatusCode, err)
			}
			if keys := sliceKeys(t, e, "/media/f"); len(keys) != 4 {
				t.Fatalf("stored slices %q, want 4", keys)
			}
			if _, err := e.store.Purge(tc.purge); err != nil {
				t.Fatal(err)
			}
			wantNoSlices(t, e, "/media/f")
			for i := range int64(4) {
				if _, _, err := e.store.Get(string(policy.Key(key).Slice(i))); err == nil {
					t.Errorf("slice %d still served after the purge", i)
				}
			}
			before := o.requests.Load()
			if _, got, err := getRange(t, e, http.MethodGet, "/media/f", "bytes=0-0"); err != nil || len(got) != 1 {
				t.Fatalf("after the purge: err %v", err)
			}
			if o.requests.Load() != before+1 {
				t.Errorf("the request after the purge was not fetched again")
			}
		})
	}
}

// TestSliceCORSAnswerNotShared: on a sliced route without a cors policy,
// an origin server that answers one Origin's request with that origin in
// Access-Control-Allow-Origin (and credentials), forgetting Vary: Origin,
// does not have its slices served to another origin. The guard of
// fetch.keep (policy.VaryOrigin) must hold for slices too, which are
// stored by keepSlice, not keep.
func TestSliceCORSAnswerNotShared(t *testing.T) {
	c := newClock()
	body := patterned(3*sliceSize, 21)
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("Etag", `"v1"`)
		if origin := r.Header.Get("Origin"); origin != "" {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Allow-Credentials", "true")
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	})
	e := newSliceEdge(t, c, o.URL, sliceSize, 0)
	for _, origin := range []string{"https://a.example", "https://b.example", "null", ""} {
		fields := []string{}
		if origin != "" {
			fields = append(fields, "Origin", origin)
		}
		resp, got, err := getRange(t, e, http.MethodGet, "/f", "bytes=100-199", fields...)
		if err != nil || resp.StatusCode != 206 || !bytes.Equal(got, body[100:200]) {
			t.Fatalf("from %q: status %d, err %v", origin, resp.StatusCode, err)
		}
		if acao := resp.Header.Get("Access-Control-Allow-Origin"); acao != origin {
			t.Errorf("from %q: Access-Control-Allow-Origin %q: another origin's answer (Cache-Status %q)",
				origin, acao, resp.Header.Get("Cache-Status"))
		}
	}
}

// TestSliceWholeVaryNotSharedWithWaiter: on a sliced route, an origin
// that ignores Range answers with the whole 200, which varies (here on
// Accept-Language, or on Origin through the CORS guard). A request that
// waited on that fetch and does not match the leader's variant must not
// be given the leader's answer (RFC 9111 §4.1), as the unsliced miss path
// ensures (fetch.varyNames).
func TestSliceWholeVaryNotSharedWithWaiter(t *testing.T) {
	c := newClock()
	g := newGate()
	t.Cleanup(g.open)
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		g.wait()
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("Vary", "Accept-Language")
		w.Header().Set("Etag", `"`+r.Header.Get("Accept-Language")+`"`)
		_, _ = w.Write([]byte("in " + r.Header.Get("Accept-Language"))) // Range ignored
	})
	e := newSliceEdge(t, c, o.URL, sliceSize, 0)
	type answer struct {
		lang, body string
		err        error
	}
	answers := make(chan answer, 2)
	ask := func(lang string) {
		req, _ := http.NewRequest(http.MethodGet, e.URL+"/f", nil)
		req.Header.Set("Accept-Language", lang)
		resp, err := e.Client().Do(req)
		if err != nil {
			answers <- answer{lang, "", err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		answers <- answer{lang, string(b), err}
	}
	go ask("en")
	waitFor(t, func() bool { return o.requests.Load() == 1 })
	go ask("fr")
	waitJoined(t, e, 1)
	g.open()
	for range 2 {
		a := <-answers
		if a.err != nil || a.body != "in "+a.lang {
			t.Errorf("Accept-Language %s: body %q, err %v: another variant's answer", a.lang, a.body, a.err)
		}
	}
}

// TestSliceManyRangesOneFetchPerSlice: a multi-range request on a sliced
// route whose slices are not stored (private) costs the upstream each
// slice it covers once, not once per range: 16 one-byte ranges in one
// slice are not 16 fetches of a whole slice (an amplification of a
// slice's size per byte asked for), and ranges out of order, that would
// visit a slice again, are ignored (RFC 9110 §14.2 lets a server ignore
// many small ranges not in ascending order): the whole object is sent.
func TestSliceManyRangesOneFetchPerSlice(t *testing.T) {
	c := newClock()
	body := patterned(3*sliceSize, 22)
	o := newRangeOrigin(t, c, body, `"v1"`)
	o.cc = "private, max-age=3600"
	e := newSliceEdge(t, c, o.URL, sliceSize, 0)
	specs := []string{"0-0"}
	for i := range 15 {
		specs = append(specs, fmt.Sprintf("%d-%d", sliceSize+2*i, sliceSize+2*i))
	}
	resp, got, err := getRange(t, e, http.MethodGet, "/f", "bytes="+strings.Join(specs, ","))
	if err != nil || resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("status %d, err %v", resp.StatusCode, err)
	}
	parts := byteRangeParts(resp, got)
	for i, p := range parts {
		var first, last, total int64
		if _, err := fmt.Sscanf(p.contentRange, "bytes %d-%d/%d", &first, &last, &total); err != nil || !bytes.Equal(p.body, body[first:last+1]) {
			t.Errorf("part %d: Content-Range %q, wrong bytes", i, p.contentRange)
		}
	}
	if len(parts) != len(specs) {
		t.Errorf("%d parts, want %d", len(parts), len(specs))
	}
	if n := o.requests.Load(); n != 2 {
		t.Errorf("upstream requests %d for 16 ranges in 2 slices, want 2; ranges asked %q", n, o.seenRanges())
	}

	// Out of order, every range visiting slice 0 and 1 again: ignored.
	before := o.requests.Load()
	specs = specs[:0]
	for i := range 8 {
		specs = append(specs, fmt.Sprintf("%d-%d", 2*i, 2*i), fmt.Sprintf("%d-%d", sliceSize+2*i, sliceSize+2*i))
	}
	// Another object: /f's slices proved private, so its requests now
	// pass with their own ranges (TestSliceUncacheableObjectPassed).
	resp, got, err = getRange(t, e, http.MethodGet, "/g", "bytes="+strings.Join(specs, ","))
	if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(got, body) {
		t.Errorf("ranges out of order: status %d, err %v, %d bytes; want the whole 200", resp.StatusCode, err, len(got))
	}
	if n := o.requests.Load() - before; n != 3 {
		t.Errorf("upstream requests %d for ranges out of order, want 3 (each slice once)", n)
	}
}

// TestSliceAuthorizationNotShared: on a sliced route, an answer to a
// request with Authorization that does not say it may be shared (RFC 9111
// §3.5) is not stored nor served to another user or an anonymous request.
func TestSliceAuthorizationNotShared(t *testing.T) {
	c := newClock()
	bodies := map[string][]byte{"": patterned(2*sliceSize, 30), "Bearer alice": patterned(2*sliceSize, 31), "Bearer bob": patterned(2*sliceSize, 32)}
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Etag", `"v1"`)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(bodies[r.Header.Get("Authorization")]))
	})
	e := newSliceEdge(t, c, o.URL, sliceSize, 0)
	for _, user := range []string{"Bearer alice", "Bearer bob", "Bearer alice", ""} {
		var fields []string
		if user != "" {
			fields = []string{"Authorization", user}
		}
		for _, rng := range []string{"bytes=10-19", fmt.Sprintf("bytes=%d-%d", sliceSize-5, sliceSize+4), ""} {
			resp, got, err := getRange(t, e, http.MethodGet, "/f", rng, fields...)
			want := bodies[user]
			if rng == "bytes=10-19" {
				want = want[10:20]
			} else if rng != "" {
				want = want[sliceSize-5 : sliceSize+5]
			}
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%q range %q: status %d, err %v, Cache-Status %q: another user's bytes", user, rng, resp.StatusCode, err, resp.Header.Get("Cache-Status"))
			}
		}
	}
}

// TestSlicePurgeRacingFill: a slice whose fetch began before a purge and
// ended after it (the origin held it) is never served as fresh after the
// purge returned: the request after the purge gets the new version.
func TestSlicePurgeRacingFill(t *testing.T) {
	c := newClock()
	v1, v2 := patterned(3*sliceSize, 40), patterned(3*sliceSize, 41)
	o, g := newHeldRangeOrigin(t, c, v1, `"v1"`)
	e := newSliceEdge(t, c, o.URL, sliceSize, 0)
	done := make(chan []byte, 1)
	go func() {
		_, got, _ := getRange(t, e, http.MethodGet, "/f", "bytes=10-19")
		done <- got
	}()
	waitFor(t, func() bool { return o.requests.Load() == 1 }) // the origin has the slice's request, v1
	key := "http://" + e.Listener.Addr().String() + "/f"
	if _, err := e.store.Purge(storage.Purge{Keys: []string{key}}); err != nil {
		t.Fatal(err)
	}
	o.mu.Lock()
	o.gate = nil
	o.mu.Unlock()
	o.change(v2, `"v2"`)
	g.open()
	<-done // v1's bytes, fetched before the purge: allowed
	e.store.Flush()
	for _, rng := range []string{"bytes=10-19", fmt.Sprintf("bytes=%d-%d", sliceSize-5, sliceSize+4)} {
		resp, got, err := getRange(t, e, http.MethodGet, "/f", rng)
		var a, b int
		_, _ = fmt.Sscanf(rng, "bytes=%d-%d", &a, &b)
		if err != nil || !bytes.Equal(got, v2[a:b+1]) {
			t.Errorf("after the purge, %s: status %d, err %v, Cache-Status %q: not v2's bytes", rng, resp.StatusCode, err, resp.Header.Get("Cache-Status"))
		}
	}
}

// TestSliceUncacheableObjectPassed: once a sliced route's object proved
// not storable as slices (private here), the next requests for it pass
// to the upstream with their own Range for a while, instead of each one
// byte (or a HEAD) costing the upstream a whole slice.
func TestSliceUncacheableObjectPassed(t *testing.T) {
	c := newClock()
	body := patterned(3*sliceSize, 50)
	o := newRangeOrigin(t, c, body, `"v1"`)
	o.cc = "private, max-age=3600"
	e := newSliceEdge(t, c, o.URL, sliceSize, 0)
	for i := range 5 {
		rng := fmt.Sprintf("bytes=%d-%d", i*sliceSize/2, i*sliceSize/2)
		resp, got, err := getRange(t, e, http.MethodGet, "/f", rng)
		if err != nil || resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, body[i*sliceSize/2:i*sliceSize/2+1]) {
			t.Fatalf("%s: status %d, err %v", rng, resp.StatusCode, err)
		}
	}
	if resp, _, _ := getRange(t, e, http.MethodHead, "/f", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD: status %d", resp.StatusCode)
	}
	if n := o.bytes.Load(); n > sliceSize+16 {
		t.Errorf("the upstream sent %d bytes for five one-byte ranges and a HEAD of a private object, want one slice (%d) and the bytes asked for; ranges %q",
			n, sliceSize, o.seenRanges())
	}
}

// TestSlicePrivateFieldsOnlyToFetcher: on a sliced route, as on any other
// (TestPrivateFieldsOnlyToFetcher), the client whose request fetched the
// slice that heads its response gets the fields the cache does not store
// (Set-Cookie, those private="..." and no-cache="..." name), and no other
// client does: not one collapsed onto the fetch, nor a later hit, whole
// or ranged.
func TestSlicePrivateFieldsOnlyToFetcher(t *testing.T) {
	c := newClock()
	body := patterned(3*sliceSize, 12)
	o, g := newHeldRangeOrigin(t, c, body, `"v1"`)
	o.cc = `public, max-age=3600, private="X-User", no-cache="X-Trace"`
	o.extra = []string{"X-User", "alice", "X-Trace", "t1", "Set-Cookie", "s=alice"}
	e := newSliceEdge(t, c, o.URL, sliceSize, 0)
	own := []string{"X-User", "X-Trace", "Set-Cookie"}
	type answer struct {
		resp *http.Response
		err  error
	}
	ranged := func(rng string) <-chan answer {
		ch := make(chan answer, 1)
		go func() {
			req, _ := http.NewRequest(http.MethodGet, e.URL+"/movie", nil)
			if rng != "" {
				req.Header.Set("Range", rng)
			}
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			ch <- answer{resp, err}
		}()
		return ch
	}
	wantOwn := func(name string, a answer, want bool) {
		t.Helper()
		if a.err != nil {
			t.Fatalf("%s: %v", name, a.err)
		}
		for _, f := range own {
			if got := a.resp.Header.Values(f); (len(got) > 0) != want {
				t.Errorf("%s: %s %q (Cache-Status %q), want present %v", name, f, got, a.resp.Header.Get("Cache-Status"), want)
			}
		}
	}
	// The fetcher of slice 1, and a client collapsed onto that fetch.
	leader := ranged(fmt.Sprintf("bytes=%d-%d", sliceSize+10, sliceSize+99))
	waitFor(t, func() bool { return o.requests.Load() == 1 })
	waiter := ranged(fmt.Sprintf("bytes=%d-%d", sliceSize+10, sliceSize+99))
	waitJoined(t, e, 1)
	g.open()
	wantOwn("fetcher of slice 1", <-leader, true)
	wantOwn("collapsed client", <-waiter, false)
	e.store.Flush()
	// A whole GET: slice 0 is fetched by this request and heads the
	// response; slice 2 is fetched after the head.
	wantOwn("fetcher of slice 0", <-ranged(""), true)
	e.store.Flush()
	for _, rng := range []string{"", "bytes=0-9", fmt.Sprintf("bytes=%d-", 2*sliceSize)} {
		a := <-ranged(rng)
		if a.err == nil && !isHit(a.resp) {
			t.Errorf("Range %q: Cache-Status %q, want a hit", rng, a.resp.Header.Get("Cache-Status"))
		}
		wantOwn("hit, Range "+rng, a, false)
	}
	if n := o.requests.Load(); n != 3 {
		t.Errorf("upstream requests %d, want 3 (one per slice); ranges %q", n, o.seenRanges())
	}
}
