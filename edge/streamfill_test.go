package edge

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"edged/storage"
)

// pieceOrigin serves body, storable, in two pieces: the first split bytes
// at once, the rest once rest is opened. With broken set, it drops the
// connection instead of sending the rest; with chunked set, it sends no
// Content-Length (the body is chunked). The test's cleanup opens rest
// before the origin closes, so a failing test cannot hang.
type pieceOrigin struct {
	*testOrigin
	rest    *gate
	broken  atomic.Bool
	chunked atomic.Bool
}

func newPieceOrigin(t testing.TB, c *clock, body []byte, split int, fields ...string) *pieceOrigin {
	t.Helper()
	po := &pieceOrigin{rest: newGate()}
	po.testOrigin = newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=600")
		w.Header().Set("Content-Type", "application/octet-stream")
		if !po.chunked.Load() {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		}
		for i := 0; i+1 < len(fields); i += 2 {
			w.Header().Set(fields[i], fields[i+1])
		}
		_, _ = w.Write(body[:split])
		w.(http.Flusher).Flush()
		po.rest.wait()
		if po.broken.Load() {
			panic(http.ErrAbortHandler) // the connection drops mid-body
		}
		_, _ = w.Write(body[split:])
	})
	t.Cleanup(po.rest.open)
	return po
}

// streamedGet is one client's GET of path: first carries the first n
// bytes of its body (or an error) as soon as they arrive, done the whole
// outcome.
type streamedGet struct {
	first chan error
	done  chan getOutcome
}

type getOutcome struct {
	resp *http.Response
	body []byte
	err  error // reading the body failed: the response was cut
}

func startGet(e *testEdge, path string, n int, fields ...string) *streamedGet {
	g := &streamedGet{first: make(chan error, 1), done: make(chan getOutcome, 1)}
	go func() {
		req, _ := http.NewRequest(http.MethodGet, e.URL+path, nil)
		for i := 0; i+1 < len(fields); i += 2 {
			if fields[i] == "Host" {
				req.Host = fields[i+1]
				continue
			}
			req.Header.Set(fields[i], fields[i+1])
		}
		resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
		if err != nil {
			g.first <- err
			g.done <- getOutcome{err: err}
			return
		}
		defer resp.Body.Close()
		head := make([]byte, n)
		_, err = io.ReadFull(resp.Body, head)
		g.first <- err
		rest, rerr := io.ReadAll(resp.Body)
		if err == nil {
			err = rerr
		}
		g.done <- getOutcome{resp: resp, body: append(head, rest...), err: err}
	}()
	return g
}

// firstBytes waits for g's first bytes, failing t if they do not come
// while the origin holds the rest of the body.
func (g *streamedGet) firstBytes(t testing.TB, who string) {
	t.Helper()
	select {
	case err := <-g.first:
		if err != nil {
			t.Fatalf("%s: first bytes: %v", who, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no byte of the body reached the client while the origin held the rest: it waited for the whole body", who)
	}
}

// twoClients starts a leader's GET of path and, once its first n bytes
// arrived, a waiter's that joins its fetch, and waits for the waiter's
// first n bytes too: both while the origin holds the rest.
func twoClients(t testing.TB, e *testEdge, path string, n int, what string) []*streamedGet {
	t.Helper()
	leader := startGet(e, path, n)
	leader.firstBytes(t, "leader"+what)
	waiter := startGet(e, path, n)
	waiter.firstBytes(t, "waiter"+what)
	return []*streamedGet{leader, waiter}
}

func testBody(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26 + i/26%7)
	}
	return b
}

// storedBody is the body the store holds under key, read whole.
func storedBody(t testing.TB, e *testEdge, key string) []byte {
	t.Helper()
	e.settle(t)
	e.store.Flush()
	entry, _, err := e.store.Get(key)
	if err != nil {
		t.Fatalf("stored entry %s: %v", key, err)
	}
	b, err := entry.ReadBody()
	if err != nil {
		t.Fatalf("stored body %s: %v", key, err)
	}
	return b
}

// A storable miss reaches its client as it arrives: the first bytes while
// the origin still holds the rest, then the whole, and what is stored is
// byte for byte what the origin sent. Before, the client got nothing until
// the whole body had arrived.
func TestMissStreamedWhileFilling(t *testing.T) {
	c := newClock()
	body := testBody(1 << 20)
	o := newPieceOrigin(t, c, body, 100_000)
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	g := startGet(e, "/big", 100_000)
	g.firstBytes(t, "leader")
	o.rest.open()
	out := <-g.done
	if out.err != nil || !bytes.Equal(out.body, body) {
		t.Fatalf("body: %d bytes, err %v; want the origin's %d bytes", len(out.body), out.err, len(body))
	}
	wantStatus(t, out.resp, http.StatusOK, "fwd=uri-miss", "fwd-status=200", "ttl=")
	if cs := out.resp.Header.Get("Cache-Status"); strings.Contains(cs, "stored") {
		t.Errorf("Cache-Status %q: a head sent before the body is whole cannot know it is stored", cs)
	}
	if got := out.resp.Header.Get("Content-Length"); got != strconv.Itoa(len(body)) {
		t.Errorf("Content-Length %q, want %d", got, len(body))
	}
	wantStoredOnce(t, e, o.testOrigin, "/big", body)
}

// wantStoredOnce checks that e stored body for path byte for byte, serves
// it as a hit, and asked o for it once.
func wantStoredOnce(t testing.TB, e *testEdge, o *testOrigin, path string, body []byte) {
	t.Helper()
	if stored := storedBody(t, e, "http://"+e.Listener.Addr().String()+path); !bytes.Equal(stored, body) {
		t.Errorf("stored body: %d bytes, not the origin's", len(stored))
	}
	resp, hit := e.get(t, path)
	if !isHit(resp) || hit != string(body) {
		t.Errorf("after the fill: hit %v (%q), %d bytes", isHit(resp), resp.Header.Get("Cache-Status"), len(hit))
	}
	if n := o.requests.Load(); n != 1 {
		t.Errorf("origin requests = %d, want 1", n)
	}
}

// Two clients of one cold object share one fetch and both are sent its
// body as it arrives, the one that joined late from its first byte.
// Before, the waiter got nothing until the whole body had arrived.
func TestCollapsedClientsStreamedWhileFilling(t *testing.T) {
	c := newClock()
	body := testBody(512 << 10)
	o := newPieceOrigin(t, c, body, 50_000)
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	clients := twoClients(t, e, "/shared", 50_000, "")
	o.rest.open()
	for _, g := range clients {
		out := <-g.done
		if out.err != nil || !bytes.Equal(out.body, body) {
			t.Errorf("body: %d bytes, err %v; want the origin's", len(out.body), out.err)
		}
	}
	if n := o.requests.Load(); n != 1 {
		t.Errorf("origin requests = %d, want 1 shared fetch", n)
	}
	if n := testutil.ToFloat64(e.handler.metrics.coalesced); n != 1 {
		t.Errorf("coalesced = %v, want 1", n)
	}
}

// A fill that breaks midway cuts the response of every client being sent
// it (no complete-looking body), stores nothing, and the next request is
// a fresh miss that gets the whole object.
func TestStreamedFillBrokenMidway(t *testing.T) {
	c := newClock()
	body := testBody(256 << 10)
	o := newPieceOrigin(t, c, body, 10_000)
	o.broken.Store(true)
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	clients := twoClients(t, e, "/broken", 10_000, "")
	o.rest.open()
	for _, g := range clients {
		out := <-g.done
		if out.err == nil {
			t.Errorf("a body cut by the upstream was delivered as complete: %d bytes", len(out.body))
		}
	}
	wantBrokenFillForgotten(t, e, o, "/broken", body)
}

// wantBrokenFillForgotten checks, once o's broken fill of path has ended,
// that e stored nothing of it, and that the next request, with o mended,
// fetches body again.
func wantBrokenFillForgotten(t testing.TB, e *testEdge, o *pieceOrigin, path string, body []byte) {
	t.Helper()
	e.settle(t)
	e.store.Flush()
	if st := e.store.Stats(); st.MemoryEntries != 0 || st.DiskEntries != 0 || st.PendingWrites != 0 {
		t.Errorf("a truncated body was stored: %+v", st)
	}
	o.broken.Store(false)
	resp, got := e.get(t, path)
	wantStatus(t, resp, http.StatusOK, "fwd=uri-miss")
	if got != string(body) {
		t.Errorf("next request: %d bytes, want the whole object", len(got))
	}
	if n := o.requests.Load(); n != 2 {
		t.Errorf("origin requests = %d, want 2 (the broken fill, a fresh one)", n)
	}
}

// A client that reads nothing does not stall the fill for a client that
// reads: the fast one gets the first bytes while the origin holds the
// rest and then the whole body, and the object is stored, while the slow
// one has not read a byte. The body is larger than what loopback sockets
// buffer, so a fill that waited for the slow client would never end.
func TestSlowClientDoesNotStallFill(t *testing.T) {
	c := newClock()
	body := testBody(24 << 20)
	o := newPieceOrigin(t, c, body, 1<<20)
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	slow, err := net.Dial("tcp", e.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := fmt.Fprintf(slow, "GET /large HTTP/1.1\r\nHost: %s\r\n\r\n", e.Listener.Addr()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return o.requests.Load() == 1 }) // the slow client leads the fetch
	fast := startGet(e, "/large", 1<<20)
	fast.firstBytes(t, "fast client")
	o.rest.open()
	select {
	case out := <-fast.done:
		if out.err != nil || !bytes.Equal(out.body, body) {
			t.Fatalf("fast client: %d bytes, err %v", len(out.body), out.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the fast client was stalled by the slow one")
	}
	if stored := storedBody(t, e, "http://"+e.Listener.Addr().String()+"/large"); !bytes.Equal(stored, body) {
		t.Errorf("stored body: %d bytes, not the origin's", len(stored))
	}
	if n := o.requests.Load(); n != 1 {
		t.Errorf("origin requests = %d, want 1", n)
	}
}

// A purge while a fill streams: the clients being sent the body get it
// whole (it was what the origin sent), but the object, fetched across the
// purge, is stored stale, so the next request revalidates it rather than
// taking it for fresh (the guarantee of TestPurgeDuringFill).
func TestPurgeDuringStreamedFill(t *testing.T) {
	c := newClock()
	body := testBody(200_000)
	o := newPieceOrigin(t, c, body, 20_000, "ETag", `"v1"`)
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	g := startGet(e, "/purged", 20_000, "Host", "h.example")
	g.firstBytes(t, "client")
	if _, err := e.store.Purge(storage.Purge{Keys: []string{"http://h.example/purged"}}); err != nil {
		t.Fatal(err)
	}
	o.rest.open()
	if out := <-g.done; out.err != nil || !bytes.Equal(out.body, body) {
		t.Fatalf("client: %d bytes, err %v", len(out.body), out.err)
	}
	e.settle(t)
	e.store.Flush()
	resp, got := e.get(t, "/purged", "Host", "h.example")
	if isHit(resp) {
		t.Errorf("a response fetched across a purge was served without validation: %q", resp.Header.Get("Cache-Status"))
	}
	if got != string(body) {
		t.Errorf("after the purge: %d bytes", len(got))
	}
	if n := o.requests.Load(); n != 2 {
		t.Errorf("origin requests = %d, want 2 (the fill, a revalidation)", n)
	}
}

// An unkept stream (an event stream opened with a GET, no-store) that
// keeps sending is not cut at fetch_timeout: 25 events 100 ms apart, 2.5 s
// in all, pass a 1 s fetch_timeout, and the client gets every one and a
// clean end. One that stalls is still cut, after body_timeout (2 s: wide
// enough that a loaded machine's scheduling never makes a pause of it).
// Before, the stream was cut at fetch_timeout.
func TestUnkeptStreamOutlivesFetchTimeout(t *testing.T) {
	const (
		events      = 25
		bodyTimeout = 2 * time.Second
		fetch       = time.Second
	)
	o := newOrigin(t, newClock(), func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-store")
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		n := events
		if r.URL.Path == "/stall" {
			n = 1
		}
		for i := range n {
			_, _ = fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			select {
			case <-tick.C:
			case <-r.Context().Done():
				return
			}
		}
		if r.URL.Path == "/stall" {
			<-r.Context().Done() // sends nothing more until the edge gives up
		}
	})
	e := newTimedEdge(t, newClock(), o.URL, bodyTimeout, fetch)

	start := time.Now()
	r := faultGet(t, e, "/events")
	if r.readErr != nil || r.resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, err %v after %v, %d events: the stream was cut", r.resp.StatusCode, r.readErr, time.Since(start), bytes.Count([]byte(r.body), []byte("data:")))
	}
	if n := bytes.Count([]byte(r.body), []byte("data:")); n != events {
		t.Errorf("%d events, want %d", n, events)
	}
	if r.took < fetch {
		t.Fatalf("took %v: the stream did not outlast fetch_timeout, the test proves nothing", r.took)
	}

	r = faultGet(t, e, "/stall")
	if r.readErr == nil {
		t.Errorf("a stalled stream ended cleanly (%q): it must be cut", r.body)
	}
	if bound := bodyTimeout + 3*time.Second; r.took > bound {
		t.Errorf("a stalled stream took %v to cut, want at most %v", r.took, bound)
	}
}

// While a fill streams, what is the leader's alone stays the leader's: a
// waiter is sent the stored fields (no Set-Cookie of a public response,
// RFC 9111 §3.1 lets it be stored but edged never shares it), and a
// response that varies is sent only to a waiter whose fields select it;
// another variant's waiter gets its own answer.
func TestStreamedFillKeepsLeaderFieldsAndVariants(t *testing.T) {
	c := newClock()
	rest := newGate()
	var requests atomic.Int64
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		lang := r.Header.Get("Accept-Language")
		body := bytes.Repeat([]byte(lang), 50_000)
		w.Header().Set("Cache-Control", "public, max-age=600")
		w.Header().Set("Vary", "Accept-Language")
		w.Header().Set("Set-Cookie", "session="+lang)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body[:1000])
		w.(http.Flusher).Flush()
		rest.wait()
		_, _ = w.Write(body[1000:])
	})
	t.Cleanup(rest.open) // before the origin's Close, which waits for held handlers
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	leader := startGet(e, "/page", 1000, "Accept-Language", "en")
	leader.firstBytes(t, "leader")
	same := startGet(e, "/page", 1000, "Accept-Language", "en")
	same.firstBytes(t, "waiter of the same variant")
	other := startGet(e, "/page", 1000, "Accept-Language", "fr")
	rest.open()
	for _, tt := range []struct {
		g            *streamedGet
		lang, cookie string
	}{{leader, "en", "session=en"}, {same, "en", ""}, {other, "fr", "session=fr"}} {
		out := <-tt.g.done
		if out.err != nil || !bytes.Equal(out.body, bytes.Repeat([]byte(tt.lang), 50_000)) {
			t.Errorf("%s: %d bytes %.10q, err %v", tt.lang, len(out.body), out.body, out.err)
			continue
		}
		if got := out.resp.Header.Get("Set-Cookie"); got != tt.cookie {
			t.Errorf("%s (cookie %q): Set-Cookie %q", tt.lang, tt.cookie, got)
		}
	}
	if n := requests.Load(); n != 2 {
		t.Errorf("origin requests = %d, want 2 (en shared, fr its own)", n)
	}
}

// A storable response of unknown length (chunked) is streamed too: the
// leader and a waiter get the first bytes while the origin holds the rest,
// and the entry stored once it is whole has the body's length. One that
// outgrows cache.max_object is sent whole to the leader, from the upstream
// once it outgrew the fill, and cut for a waiter that joined (nobody reads
// the upstream for it); nothing is stored, and the next fill of the key is
// not streamed to waiters (the key is marked too large).
func TestChunkedMissStreamedWhileFilling(t *testing.T) {
	c := newClock()
	small := testBody(48 << 10)
	large := testBody(400 << 10)
	var held atomic.Pointer[gate] // what holds the rest of each body
	hold := func() *gate {
		g := newGate()
		held.Store(g)
		t.Cleanup(g.open)
		return g
	}
	rest := hold()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		body := small
		if r.URL.Path == "/large" {
			body = large
		}
		w.Header().Set("Cache-Control", "public, max-age=600")
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(body[:1000]) // no Content-Length: chunked
		w.(http.Flusher).Flush()
		held.Load().wait()
		for i := 1000; i < len(body); i += 16 << 10 {
			_, _ = w.Write(body[i:min(i+16<<10, len(body))])
			w.(http.Flusher).Flush()
		}
	})
	t.Cleanup(rest.open) // the first gate, made before the origin: opened before its Close
	e := newEdge(t, c, edgeConfig{upstream: o.URL, maxObject: 128 << 10})

	clients := twoClients(t, e, "/small", 1000, "")
	rest.open()
	for _, g := range clients {
		if out := <-g.done; out.err != nil || !bytes.Equal(out.body, small) {
			t.Errorf("chunked: %d bytes, err %v", len(out.body), out.err)
		}
	}
	key := "http://" + e.Listener.Addr().String() + "/small"
	if stored := storedBody(t, e, key); !bytes.Equal(stored, small) {
		t.Errorf("stored body: %d bytes, not the origin's", len(stored))
	}
	if entry, _, err := e.store.Get(key); err != nil || entry.Header.Get("Content-Length") != strconv.Itoa(len(small)) {
		t.Errorf("stored Content-Length %q (err %v), want %d", entry.Header.Get("Content-Length"), err, len(small))
	}

	rest = hold()
	clients = twoClients(t, e, "/large", 1000, " of a body too large")
	rest.open()
	if out := <-clients[0].done; out.err != nil || !bytes.Equal(out.body, large) {
		t.Errorf("leader of a body too large: %d bytes, err %v; want it whole", len(out.body), out.err)
	}
	if out := <-clients[1].done; out.err == nil {
		t.Errorf("waiter of a body too large: %d bytes and a clean end; want it whole from its own fetch or cut", len(out.body))
	}
	e.settle(t)
	e.store.Flush()
	if _, _, err := e.store.Get("http://" + e.Listener.Addr().String() + "/large"); err == nil {
		t.Error("a body past max_object was stored")
	}

	// Marked too large: the leader is streamed the body, a waiter asks on
	// its own once the fill says so, and nobody is cut.
	rest = hold()
	before := o.requests.Load()
	leader := startGet(e, "/large", 1000)
	leader.firstBytes(t, "leader of a body marked too large")
	coalesced := testutil.ToFloat64(e.handler.metrics.coalesced)
	waiter := startGet(e, "/large", 1000)
	waitFor(t, func() bool { return testutil.ToFloat64(e.handler.metrics.coalesced) > coalesced })
	rest.open()
	for _, g := range []*streamedGet{leader, waiter} {
		if out := <-g.done; out.err != nil || !bytes.Equal(out.body, large) {
			t.Errorf("marked too large: %d bytes, err %v; want it whole", len(out.body), out.err)
		}
	}
	if n := o.requests.Load() - before; n != 2 {
		t.Errorf("origin requests = %d, want 2 (the leader's, the waiter's own)", n)
	}
}

// A HEAD collapsed onto a fill of unknown length whose key's last fill
// outgrew max_object is answered from the head at once, as any HEAD
// waiter is (serveWhileFilling): only a waiter that wants the body must
// wait, lest it be cut. It was once held to the fill's end and then sent
// upstream on its own, when "may outgrow" and "needs validation" were one
// flag.
func TestCollapsedHeadOfBodyMarkedTooLargeAnsweredAtOnce(t *testing.T) {
	c := newClock()
	large := testBody(400 << 10)
	var held atomic.Pointer[gate]
	held.Store(newGate())
	held.Load().open() // the first fill, which marks the key, is not held
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=600")
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(large[:1000]) // no Content-Length: chunked
		w.(http.Flusher).Flush()
		if r.Method == http.MethodGet {
			held.Load().wait()
		}
		_, _ = w.Write(large[1000:])
	})
	e := newEdge(t, c, edgeConfig{upstream: o.URL, maxObject: 128 << 10})
	if _, body := e.get(t, "/large"); body != string(large) {
		t.Fatalf("first fill: %d bytes, want the body whole", len(body))
	}
	e.settle(t)

	rest := newGate()
	held.Store(rest)
	t.Cleanup(rest.open)
	leader := startGet(e, "/large", 1000)
	leader.firstBytes(t, "leader of a body marked too large")
	before := o.requests.Load()
	head := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodHead, e.URL+"/large", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("HEAD: %v", err)
			head <- nil
			return
		}
		_ = resp.Body.Close()
		head <- resp
	}()
	select {
	case resp := <-head:
		if resp != nil && (resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Cache-Status"), "collapsed")) {
			t.Errorf("HEAD waiter: %d, Cache-Status %q; want a 200 collapsed onto the fill", resp.StatusCode, resp.Header.Get("Cache-Status"))
		}
	case <-time.After(10 * time.Second):
		t.Error("the HEAD waiter is not answered while the body is held: it waits for the fill's end")
	}
	rest.open()
	if out := <-leader.done; out.err != nil || !bytes.Equal(out.body, large) {
		t.Errorf("leader: %d bytes, err %v; want it whole", len(out.body), out.err)
	}
	if n := o.requests.Load() - before; n != 0 {
		t.Errorf("origin requests of the HEAD waiter = %d, want 0 (answered from the leader's head)", n)
	}
}

// A JSON miss converted to XML for its client (a route's transform) is
// held whole by the transform, though the fill sends it as it arrives and
// flushes each piece: the client gets the XML with its own head, not the
// JSON's head flushed before the conversion.
func TestStreamedFillConvertedWhole(t *testing.T) {
	c := newClock()
	rest := newGate()
	const doc = `{"id":42,"name":"Ada"}`
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Length", strconv.Itoa(len(doc)))
		_, _ = io.WriteString(w, doc[:8])
		w.(http.Flusher).Flush()
		rest.wait()
		_, _ = io.WriteString(w, doc[8:])
	})
	t.Cleanup(rest.open) // before the origin's Close, which waits for held handlers
	e := routedEdge(t, c, &Site{Name: "api", Hosts: []string{"api.example"}, Routes: []*Route{
		{PathPrefix: "/", Upstream: upstreamTo(t, o.URL), Transform: &Transform{JSONToXML: true}}}})
	go func() {
		waitFor(t, func() bool { return o.requests.Load() == 1 })
		rest.open()
	}()
	resp, body := e.get(t, "/user", "Host", "api.example", "Accept", "application/xml")
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/xml") ||
		body != `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<root><id>42</id><name>Ada</name></root>` {
		t.Errorf("XML client got %s %q", ct, body)
	}
}

// A body shorter than streamFromBytes (by its Content-Length) is answered
// once stored, and says stored; a longer one is sent as it arrives, its
// head before the body is whole, and says ttl without stored. The rule is
// on the length alone, so one response is answered one way whatever the
// timing (before, a short body was streamed or not by how much had
// arrived when its client looked).
func TestShortMissAnsweredOnceStored(t *testing.T) {
	for _, tt := range []struct {
		name     string
		size     int
		streamed bool
	}{
		{"short", streamFromBytes - 1, false},
		{"long", streamFromBytes, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			rest := newGate()
			t.Cleanup(rest.open)
			firstByte := make(chan struct{}, 1)
			body := strings.Repeat("b", tt.size)
			o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=600")
				writeInTwo(w, body, firstByte, rest)
			})
			e := newEdge(t, c, edgeConfig{upstream: o.URL})
			type answer struct {
				resp *http.Response
				err  error
			}
			answered := make(chan answer, 1)
			go func() {
				resp, err := http.Get(e.URL + "/obj")
				answered <- answer{resp, err}
			}()
			<-firstByte // the fill has the head and a byte; the rest is held
			var a answer
			if tt.streamed {
				a = <-answered // the head comes while the body is held
			} else {
				// Whether it waited is told by its Cache-Status: a head
				// sent before the body is whole never says stored.
				rest.open()
				a = <-answered
			}
			if a.err != nil {
				t.Fatal(a.err)
			}
			rest.open()
			got, err := io.ReadAll(a.resp.Body)
			a.resp.Body.Close()
			if err != nil || string(got) != body {
				t.Fatalf("body: %d bytes, %v", len(got), err)
			}
			cs := a.resp.Header.Get("Cache-Status")
			if stored := strings.Contains(cs, "; stored"); stored == tt.streamed || !strings.Contains(cs, "ttl=") {
				t.Errorf("Cache-Status %q: want ttl, and stored only when answered once stored", cs)
			}
		})
	}
}
