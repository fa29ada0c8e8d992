package edge

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"edged/storage"
)

// TestSliceCORSAnswerNotShared: on a sliced route without a cors policy,
// an origin server that answers one Origin's request with that origin in
// Access-Control-Allow-Origin (and credentials), forgetting Vary: Origin,
// does not have its slices served to another origin. The guard of
// fetch.keep (policy.VaryOrigin) must hold for slices too, which are
// stored by keepSlice, not keep.
func TestSliceCORSAnswerNotShared(t *testing.T) {
	c := newClock()
	body := patterned(3*sliceSize, 21)
	var requests atomic.Int64
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Date", httpDate(c.Now()))
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("Etag", `"v1"`)
		if origin := r.Header.Get("Origin"); origin != "" {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Allow-Credentials", "true")
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	}))
	t.Cleanup(o.Close)
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
	var requests atomic.Int64
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		g.wait()
		w.Header().Set("Date", httpDate(c.Now()))
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("Vary", "Accept-Language")
		w.Header().Set("Etag", `"`+r.Header.Get("Accept-Language")+`"`)
		_, _ = w.Write([]byte("in " + r.Header.Get("Accept-Language"))) // Range ignored
	}))
	t.Cleanup(o.Close)
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
	waitFor(t, func() bool { return requests.Load() == 1 })
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
	_, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	mr := multipart.NewReader(bytes.NewReader(got), params["boundary"])
	parts := 0
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(p)
		var first, last, total int64
		if _, err := fmt.Sscanf(p.Header.Get("Content-Range"), "bytes %d-%d/%d", &first, &last, &total); err != nil || !bytes.Equal(b, body[first:last+1]) {
			t.Errorf("part %d: Content-Range %q, wrong bytes", parts, p.Header.Get("Content-Range"))
		}
		parts++
	}
	if parts != len(specs) {
		t.Errorf("%d parts, want %d", parts, len(specs))
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
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", httpDate(c.Now()))
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Etag", `"v1"`)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(bodies[r.Header.Get("Authorization")]))
	}))
	t.Cleanup(o.Close)
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
	o := newRangeOrigin(t, c, v1, `"v1"`)
	g := newGate()
	o.gate = g
	t.Cleanup(g.open)
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
