package edge

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"

	"edged/edge/compress"
	"edged/edge/policy"
	"edged/origin"
	"edged/storage"
)

// compressingEdge is an edge with compression on.
func compressingEdge(t testing.TB, c *clock, originURL string) *testEdge {
	t.Helper()
	return compressingEdgeWith(t, c, originURL, storage.Options{})
}

// compressingEdgeWith is compressingEdge with a store opened with so.
func compressingEdgeWith(t testing.TB, c *clock, originURL string, so storage.Options) *testEdge {
	t.Helper()
	so.Dir, so.Now = t.TempDir(), c.Now
	store, err := storage.Open(so)
	if err != nil {
		t.Fatal(err)
	}
	up, err := origin.New(origin.Options{Origin: originURL, Via: "edged"})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := compress.NewEncoder(compress.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Options{Name: "edged", Store: store, Upstream: up, Now: c.Now, Compression: enc})
	if err != nil {
		t.Fatal(err)
	}
	e := &testEdge{Server: newPublicServer(t, h), handler: h, store: store}
	t.Cleanup(e.stop)
	return e
}

// rawGet sends a request without Go's transparent gzip handling.
func rawGet(t testing.TB, url string, fields ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(fields); i += 2 {
		req.Header.Set(fields[i], fields[i+1])
	}
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func decode(t testing.TB, coding string, body []byte) string {
	t.Helper()
	var r io.Reader
	switch coding {
	case "br":
		r = brotli.NewReader(bytes.NewReader(body))
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("gzip: %v", err)
		}
		r = zr
	default:
		return string(body)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decode %s: %v", coding, err)
	}
	return string(out)
}

var page = strings.Repeat("<p>edged compresses text once and serves it many times</p>\n", 200)

func TestCompressionNegotiatedAndStored(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static(page, "Cache-Control", "max-age=600", "Content-Type", "text/html", "ETag", `"p1"`))
	e := compressingEdge(t, c, o.URL)

	for _, tt := range []struct{ accept, coding string }{
		{"br, gzip", "br"}, {"gzip", "gzip"}, {"gzip;q=1, br;q=0.5", "gzip"}, {"", ""}, {"identity", ""}, {"br;q=0", ""},
	} {
		resp, body := rawGet(t, e.URL+"/page", "Accept-Encoding", tt.accept)
		if got := resp.Header.Get("Content-Encoding"); got != tt.coding {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want %q", tt.accept, got, tt.coding)
		}
		if decode(t, tt.coding, body) != page {
			t.Errorf("Accept-Encoding %q: body does not decode to the page", tt.accept)
		}
		if !strings.Contains(resp.Header.Get("Vary"), "Accept-Encoding") {
			t.Errorf("Accept-Encoding %q: Vary %q lacks Accept-Encoding (RFC 9110 §12.5.5)", tt.accept, resp.Header.Get("Vary"))
		}
		if etag := resp.Header.Get("Etag"); (tt.coding == "") != (etag == `"p1"`) {
			t.Errorf("Accept-Encoding %q: ETag %q: a compressed variant needs its own tag", tt.accept, etag)
		}
	}
	if n := o.requests.Load(); n != 1 {
		t.Errorf("origin requests = %d, want 1: variants are made from the stored response", n)
	}
	e.store.Flush()
	key := string(policy.Key("http://" + e.Listener.Addr().String() + "/page").Encoding("br"))
	if v, _, err := e.store.Get(key); err != nil || v.Header.Get("Content-Encoding") != "br" {
		t.Errorf("the brotli variant is not stored under %q: %v", key, err)
	}

	// Conditional and range requests apply to the representation sent.
	resp, _ := rawGet(t, e.URL+"/page", "Accept-Encoding", "br")
	etag := resp.Header.Get("Etag")
	resp, _ = rawGet(t, e.URL+"/page", "Accept-Encoding", "br", "If-None-Match", etag)
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match with the variant's tag: status %d, want 304", resp.StatusCode)
	}
	_, full := rawGet(t, e.URL+"/page", "Accept-Encoding", "br")
	resp, part := rawGet(t, e.URL+"/page", "Accept-Encoding", "br", "Range", "bytes=0-9")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, full[:10]) {
		t.Errorf("range of the brotli variant: status %d, bytes %q want %q", resp.StatusCode, part, full[:10])
	}
}

func TestCompressionLeavesAlone(t *testing.T) {
	c := newClock()
	gz := new(bytes.Buffer)
	zw := gzip.NewWriter(gz)
	_, _ = zw.Write([]byte(page))
	_ = zw.Close()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		switch r.URL.Path {
		case "/pre-encoded":
			w.Header().Set("Content-Type", "text/html")
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(gz.Bytes())
		case "/image":
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write([]byte(page))
		case "/small":
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("tiny"))
		case "/no-transform":
			w.Header().Set("Content-Type", "text/html")
			w.Header().Set("Cache-Control", "max-age=600, no-transform")
			_, _ = w.Write([]byte(page))
		}
	})
	e := compressingEdge(t, c, o.URL)
	for _, path := range []string{"/pre-encoded", "/image", "/small", "/no-transform"} {
		resp, body := rawGet(t, e.URL+path, "Accept-Encoding", "br")
		if path == "/pre-encoded" {
			if resp.Header.Get("Content-Encoding") != "gzip" || decode(t, "gzip", body) != page {
				t.Errorf("the origin's gzip was not passed through untouched")
			}
			continue
		}
		if resp.Header.Get("Content-Encoding") != "" {
			t.Errorf("%s was compressed", path)
		}
	}
}

// Responses that are not stored are compressed on the way through.
func TestCompressionPassThrough(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static(page, "Cache-Control", "private", "Content-Type", "text/html"))
	e := compressingEdge(t, c, o.URL)
	resp, body := rawGet(t, e.URL+"/private", "Accept-Encoding", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" || decode(t, "gzip", body) != page {
		t.Errorf("private response: Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	e.store.Flush()
	key := string(policy.Key("http://" + e.Listener.Addr().String() + "/private").Encoding("gzip"))
	if _, _, err := e.store.Get(key); err == nil {
		t.Error("a compressed copy of a private response was stored")
	}
}

// TestHitFieldsDerivedOnce holds what a hit derives once from its stored
// header (hitFacts: the Vary value, the fields for this CDN alone) to
// what deriving it on every hit gave, hit after hit: Accept-Encoding
// added to a stored Vary once and never twice, the stored entry's own
// Vary left as it was, Surrogate-Key, Cache-Tag and Surrogate-Control
// never sent to the client. It holds for the memory tier's entries and
// for the disk tier's that it shares between hits (storage.Entry.Shared),
// which keep their hitFacts too.
func TestHitFieldsDerivedOnce(t *testing.T) {
	for _, tier := range []string{"memory", "disk"} {
		t.Run(tier, func(t *testing.T) { testHitFieldsDerivedOnce(t, tier == "disk") })
	}
}

func testHitFieldsDerivedOnce(t *testing.T, diskOnly bool) {
	c := newClock()
	body := page
	if diskOnly {
		body = page[:2048] // small enough for the disk tier to share (storage/decoded.go)
	}
	fields := map[string][]string{
		"/vary-origin": {"Vary", "Origin"},
		"/vary-ae":     {"Vary", "accept-encoding, Origin"},
		"/tagged":      {"Surrogate-Key", "a b", "Cache-Tag", "c", "Surrogate-Control", "max-age=60"},
	}
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		static(body, append([]string{"Cache-Control", "max-age=600", "Content-Type", "text/html"}, fields[r.URL.Path]...)...)(w, r)
	})
	e := compressingEdgeWith(t, c, o.URL, storage.Options{NoMemoryTier: diskOnly})
	for path, vary := range map[string]string{
		"/vary-origin": "Origin, Accept-Encoding",
		"/vary-ae":     "accept-encoding, Origin",
		"/tagged":      "Accept-Encoding",
	} {
		for i := range 4 { // the fill, then hits
			resp, got := rawGet(t, e.URL+path)
			e.store.Flush() // then hits of the tier, not of the pending write
			if got := strings.Join(resp.Header.Values("Vary"), ", "); got != vary {
				t.Errorf("%s, request %d: Vary %q, want %q", path, i, got, vary)
			}
			for _, f := range []string{"Surrogate-Key", "Cache-Tag", "Surrogate-Control"} {
				if v := resp.Header.Get(f); v != "" {
					t.Errorf("%s, request %d: %s %q sent to the client", path, i, f, v)
				}
			}
			if cs := resp.Header.Get("Cache-Status"); i > 0 && !strings.Contains(cs, "; hit") {
				t.Errorf("%s, request %d: Cache-Status %q, want a hit", path, i, cs)
			}
			if string(got) != body {
				t.Errorf("%s, request %d: body is not the page", path, i)
			}
		}
		if path != "/tagged" {
			continue // stored as variants of a Vary index, under other keys
		}
		key := string(policy.Key("http://" + e.Listener.Addr().String() + path))
		if s, tier, err := e.store.Get(key); err != nil || (tier == storage.TierDisk) != diskOnly || s.Shared() != diskOnly {
			t.Errorf("%s: Get = %v, %v; want a hit of the tested tier, shared by the disk tier", path, tier, err)
		} else if _, ok := s.Derived().(*hitFacts); !ok {
			t.Errorf("%s: the %v tier's entry keeps no hitFacts", path, tier)
		}
	}
}

// A compressed variant made on a hit is not kept when the identity entry
// it was made from is gone or superseded by the time it is stored: its
// Vary variant evicted (replaced by another, variantCounter), the object
// refetched (other times), purged, or marked stale by a soft purge. Such
// a copy was stored, never served (a hit asks for one of the identity's
// times), and took space until evicted. One made from an entry still
// stored is kept. The race is made by running the change between the
// read of the identity entry and storeEncoded, as a hit would meet it.
func TestEncodedVariantNotStoredForGoneIdentity(t *testing.T) {
	for _, tt := range []struct {
		name string
		// meanwhile runs between the read of the identity entry and the
		// store of its variant, given the edge and the identity's key.
		meanwhile func(t *testing.T, e *testEdge, key string)
		kept      bool
	}{
		{"identity still stored", func(*testing.T, *testEdge, string) {}, true},
		{"variant evicted", func(t *testing.T, e *testEdge, key string) {
			if _, err := e.store.Evict(key); err != nil {
				t.Error(err)
			}
		}, false},
		{"refetched", func(t *testing.T, e *testEdge, key string) {
			cur, _, err := e.store.Get(key)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := cur.ReadBody()
			e.store.Set(&storage.Entry{Key: key, Status: cur.Status, Header: cur.Header, Body: body,
				RequestTime: cur.RequestTime.Add(time.Second), ResponseTime: cur.ResponseTime.Add(time.Second)})
		}, false},
		{"purged", func(t *testing.T, e *testEdge, key string) {
			if _, err := e.store.Purge(storage.Purge{Keys: []string{key}}); err != nil {
				t.Error(err)
			}
		}, false},
		{"soft purged", func(t *testing.T, e *testEdge, key string) {
			if _, err := e.store.Purge(storage.Purge{Keys: []string{key}, Soft: true}); err != nil {
				t.Error(err)
			}
		}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, key := filledVariant(t)
			e.store.Flush()
			identity, _, err := e.store.Get(key)
			if err != nil {
				t.Fatalf("the variant is not stored under %q: %v", key, err)
			}
			tt.meanwhile(t, e, key)
			encoded := string(policy.Key(key).Encoding("gzip"))
			e.handler.storeEncoded(identity, &storage.Entry{Key: encoded, Status: identity.Status,
				Header: encodedHeader(identity.Header, compress.Gzip), Body: []byte("made from the identity"),
				RequestTime: identity.RequestTime, ResponseTime: identity.ResponseTime})
			e.store.Flush()
			_, _, err = e.store.Get(encoded)
			if kept := err == nil; kept != tt.kept {
				t.Errorf("compressed variant stored: %v (err %v), want %v", kept, err, tt.kept)
			}
		})
	}
}

// The compressed variant a hit makes is served, and stored beside its
// identity entry for the next hits.
func TestEncodedVariantMadeOnHitIsStored(t *testing.T) {
	e, identity := filledVariant(t)
	resp, body := rawGet(t, e.URL+"/page", "User-Agent", "a", "Accept-Encoding", "gzip")
	if !isHit(resp) || resp.Header.Get("Content-Encoding") != "gzip" || decode(t, "gzip", body) != page {
		t.Fatalf("hit: Cache-Status %q, Content-Encoding %q; want the gzip variant made on a hit",
			resp.Header.Get("Cache-Status"), resp.Header.Get("Content-Encoding"))
	}
	e.store.Flush()
	if _, _, err := e.store.Get(string(policy.Key(identity).Encoding("gzip"))); err != nil {
		t.Errorf("the compressed variant is not stored: %v", err)
	}
}

// filledVariant is a compressing edge that has stored /page, a page that
// varies by User-Agent, for User-Agent a, uncompressed; key is that
// variant's storage key.
func filledVariant(t *testing.T) (e *testEdge, key string) {
	t.Helper()
	c := newClock()
	o := newOrigin(t, c, static(page, "Cache-Control", "max-age=600", "Content-Type", "text/html", "Vary", "User-Agent"))
	e = compressingEdge(t, c, o.URL)
	if resp, _ := rawGet(t, e.URL+"/page", "User-Agent", "a", "Accept-Encoding", "identity"); resp.StatusCode != http.StatusOK {
		t.Fatalf("fill: status %d", resp.StatusCode)
	}
	e.settle(t)
	primary := "http://" + e.Listener.Addr().String() + "/page"
	return e, string(policy.Key(primary).Variant([]string{"User-Agent"}, http.Header{"User-Agent": {"a"}}))
}
