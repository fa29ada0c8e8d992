package edge

import (
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A range request on a miss fetches the whole object once and gets its range
// as soon as those bytes arrive, before the rest of the object has.
func TestRangeServedWhileFilling(t *testing.T) {
	c := newClock()
	body := strings.Repeat("abcdefghij", 10_000) // 100,000 bytes
	release := newGate()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = io.WriteString(w, body[:1000])
		w.(http.Flusher).Flush()
		release.wait() // the rest arrives only when the test says so
		_, _ = io.WriteString(w, body[1000:])
	})
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	t.Cleanup(release.open)

	got := make(chan string, 2)
	for _, rng := range []string{"bytes=10-19", "bytes=500-599"} {
		go func() {
			resp, part := e.get(t, "/big", "Range", rng)
			got <- resp.Header.Get("Content-Range") + " " + part + " " + resp.Header.Get("Cache-Status")
		}()
	}
	for i := 0; i < 2; i++ {
		select {
		case g := <-got:
			if !strings.Contains(g, "/100000 ") || !strings.Contains(g, "range-while-filling") {
				t.Errorf("range answer %q", g)
			}
			if strings.HasPrefix(g, "bytes 10-19/") && !strings.Contains(g, " "+body[10:20]+" ") {
				t.Errorf("wrong bytes: %q", g)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a range within the arrived bytes waited for the whole object")
		}
	}
	// A range past what arrived waits, and is served once the rest comes.
	late := make(chan string, 1)
	go func() {
		resp, part := e.get(t, "/big", "Range", "bytes=-5")
		late <- strconv.Itoa(resp.StatusCode) + " " + part
	}()
	waitJoined(t, e, 2) // the second early range, then this one, joined the fill
	select {
	case g := <-late:
		t.Fatalf("the last bytes were served before they arrived: %q", g)
	default:
	}
	release.open()
	if g := <-late; g != "206 "+body[len(body)-5:] {
		t.Errorf("suffix range = %q", g)
	}
	if n := o.requests.Load(); n != 1 {
		t.Errorf("origin requests = %d, want 1", n)
	}
	e.settle(t) // the range was answered from the fill; its store comes after
	e.store.Flush()
	resp, full := e.get(t, "/big")
	if !isHit(resp) || full != body {
		t.Errorf("after the fill: hit %v, body length %d", isHit(resp), len(full))
	}
}

// An upstream that fails mid-body cuts the range response instead of ending
// it short, and stores nothing.
func TestRangeWhileFillingUpstreamFails(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Content-Length", "100000")
		_, _ = io.WriteString(w, strings.Repeat("x", 1000))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the connection drops
	})
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	req, _ := http.NewRequest(http.MethodGet, e.URL+"/broken", nil)
	req.Header.Set("Range", "bytes=0-5000")
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode == http.StatusPartialContent {
			t.Error("a range cut short by the upstream was delivered as complete")
		}
	}
	e.store.Flush()
	if st := e.store.Stats(); st.DiskEntries != 0 {
		t.Errorf("a truncated body was stored: %+v", st)
	}
}

func TestParseSingleRange(t *testing.T) {
	for _, tt := range []struct {
		value      string
		ok         bool
		size       int64
		start, end int64
		satisfied  bool
	}{
		{"bytes=0-9", true, 100, 0, 9, true},
		{"bytes=90-", true, 100, 90, 99, true},
		{"bytes=-10", true, 100, 90, 99, true},
		{"bytes=-1000", true, 100, 0, 99, true},
		{"bytes=50-1000", true, 100, 50, 99, true},
		{"bytes=100-", true, 100, 0, 0, false},
		{"bytes=0-1,3-4", false, 0, 0, 0, false},
		{"bytes=5-1", false, 0, 0, 0, false},
		{"bytes=-0", true, 100, 0, 0, false}, // RFC 9110 §14.1.2: a suffix-length of 0 is unsatisfiable
		{"bytes=-5", true, 0, 0, 0, false},   // nothing of an empty body is satisfiable
		{"Bytes=1-2", true, 100, 1, 2, true}, // range units are case-insensitive (§14.1)
		{"bytes=99999999999999999999-", true, 100, 0, 0, false},
		{"bytes=0-99999999999999999999", true, 100, 0, 99, true},
		{"bytes=-99999999999999999999", true, 100, 0, 99, true},
		{"bytes= 3-4 ,", true, 100, 3, 4, true},
		{"bytes=+1-2", false, 0, 0, 0, false},
		{"bytes=1 -2", false, 0, 0, 0, false},
		{"items=0-1", false, 0, 0, 0, false},
		{"bytes=a-b", false, 0, 0, 0, false},
		{"bytes=-", false, 0, 0, 0, false},
	} {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Range", tt.value)
		rng, ok := parseSingleRange(r)
		if ok != tt.ok {
			t.Errorf("%q: ok = %v", tt.value, ok)
			continue
		}
		if !ok {
			continue
		}
		start, end, sat := rng.resolve(tt.size)
		if sat != tt.satisfied || (sat && (start != tt.start || end != tt.end)) {
			t.Errorf("%q over %d: %d-%d %v, want %d-%d %v", tt.value, tt.size, start, end, sat, tt.start, tt.end, tt.satisfied)
		}
	}
}

// FuzzParseSingleRange: no Range value panics the parser, every satisfiable
// range lies within the body, and the rewrite handed to http.ServeContent
// is always one it parses as the same satisfiable ranges (or as none, for
// its 416).
func FuzzParseSingleRange(f *testing.F) {
	for _, s := range []string{"bytes=0-9", "bytes=-5", "bytes=7-", "bytes=9223372036854775807-", "bytes=--1",
		"bytes=-0", "bytes=0-0,-0", "bytes=5-2", "BYTES=1-", "bytes=,,1-2,", "bytes=99999999999999999999-"} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, value string, size int64) {
		if size < 0 {
			return
		}
		set, ok := parseRangeSet(value)
		if !ok {
			return
		}
		satisfiable := 0
		for _, rng := range set {
			start, end, sat := rng.resolve(size)
			if sat && (start < 0 || end >= size || start > end) {
				t.Fatalf("%q over %d resolved to %d-%d", value, size, start, end)
			}
			if sat {
				satisfiable++
			}
		}
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Range", value)
		r, kept, ok := satisfiableRanges(r, size)
		if !ok {
			t.Fatalf("%q parsed but was not rewritten", value)
		}
		if kept != satisfiable {
			t.Fatalf("%q over %d: %d satisfiable ranges, %d reported kept", value, size, satisfiable, kept)
		}
		again, ok := parseRangeSet(r.Header.Get("Range"))
		if !ok {
			t.Fatalf("%q rewritten to %q, which does not parse", value, r.Header.Get("Range"))
		}
		n := 0
		for _, rng := range again {
			if _, _, sat := rng.resolve(size); sat {
				n++
			}
		}
		if n != satisfiable {
			t.Fatalf("%q over %d: %d satisfiable ranges, rewritten %q has %d", value, size, satisfiable, r.Header.Get("Range"), n)
		}
	})
}

// A response that this edge compresses varies by Accept-Encoding, so every
// answer made from it says so (RFC 9110 §12.5.5), a 206 too: a range
// served while the fill arrives did not, while the whole body streamed
// meanwhile and the hit's 206 afterwards did, and a cache below could
// serve that identity range to a client that asked for gzip.
func TestRangeWhileFillingVariesByEncoding(t *testing.T) {
	c := newClock()
	body := testBody(100_000)
	po := newPieceOrigin(t, c, body, 1000, "Content-Type", "text/plain")
	e := compressingEdge(t, c, po.URL)
	whole := startGet(e, "/text", 1000, "Accept-Encoding", "identity")
	whole.firstBytes(t, "whole GET")
	resp, part := rawGet(t, e.URL+"/text", "Range", "bytes=10-19", "Accept-Encoding", "identity")
	if resp.StatusCode != http.StatusPartialContent || string(part) != string(body[10:20]) || !strings.Contains(resp.Header.Get("Cache-Status"), "range-while-filling") {
		t.Fatalf("range while filling: %d %q, Cache-Status %q", resp.StatusCode, part, resp.Header.Get("Cache-Status"))
	}
	po.rest.open()
	got := <-whole.done
	if got.err != nil {
		t.Fatal(got.err)
	}
	e.settle(t)
	e.store.Flush()
	hit, _ := rawGet(t, e.URL+"/text", "Range", "bytes=10-19", "Accept-Encoding", "identity")
	if !isHit(hit) {
		t.Fatalf("after the fill: Cache-Status %q, want a hit", hit.Header.Get("Cache-Status"))
	}
	for _, a := range []struct {
		what string
		resp *http.Response
	}{{"whole body while filling", got.resp}, {"range while filling", resp}, {"range of the hit", hit}} {
		if v := a.resp.Header.Values("Vary"); !slices.Contains(v, "Accept-Encoding") {
			t.Errorf("%s: Vary %q, want Accept-Encoding", a.what, v)
		}
	}
}

// A 206 served while the fill arrives carries the fields a hit's 206 of
// the same range carries, Accept-Ranges: bytes included (RFC 9110 §14.3);
// before, the one made while filling lacked it.
func TestRangeWhileFillingFieldsAsHit(t *testing.T) {
	c := newClock()
	body := testBody(100_000)
	po := newPieceOrigin(t, c, body, 1000, "ETag", fillETag, "Last-Modified", fillLM)
	e := newEdge(t, c, edgeConfig{upstream: po.URL})
	filling, part := rawGet(t, e.URL+"/obj", "Range", "bytes=10-19")
	if filling.StatusCode != http.StatusPartialContent || string(part) != string(body[10:20]) || !strings.Contains(filling.Header.Get("Cache-Status"), "range-while-filling") {
		t.Fatalf("range while filling: %d %q, Cache-Status %q", filling.StatusCode, part, filling.Header.Get("Cache-Status"))
	}
	po.rest.open()
	e.settle(t)
	e.store.Flush()
	hit, part := rawGet(t, e.URL+"/obj", "Range", "bytes=10-19")
	if !isHit(hit) || hit.StatusCode != http.StatusPartialContent || string(part) != string(body[10:20]) {
		t.Fatalf("after the fill: %d %q, Cache-Status %q; want the hit's 206", hit.StatusCode, part, hit.Header.Get("Cache-Status"))
	}
	if got := filling.Header.Get("Accept-Ranges"); got != "bytes" {
		t.Errorf("206 while filling: Accept-Ranges %q, want bytes", got)
	}
	for name, v := range hit.Header {
		switch name {
		case "Age", "Cache-Status", "Date", "X-Request-Id":
			continue // of the moment, or of the request
		}
		if got := filling.Header[name]; !slices.Equal(got, v) {
			t.Errorf("%s: %q while filling, %q on a hit", name, got, v)
		}
	}
	for name := range filling.Header {
		if _, ok := hit.Header[name]; !ok && name != "Age" {
			t.Errorf("%s: %q while filling, none on a hit", name, filling.Header[name])
		}
	}
}
