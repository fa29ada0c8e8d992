package edge

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/net/http2"

	"edged/edge/access"
	"edged/edge/auth"
	"edged/edge/clientip"
	"edged/edge/cors"
	"edged/edge/policy"
	"edged/edge/strictconn"
	"edged/edge/waf"
	"edged/storage"
)

// wsOrigin is a real WebSocket server (coder/websocket) that echoes every
// message; conns counts the TCP connections it accepted.
type wsOrigin struct {
	*httptest.Server
	conns atomic.Int64
	ended chan struct{} // one value per echo session that ended
}

func newWSOrigin(t testing.TB) *wsOrigin {
	t.Helper()
	o := &wsOrigin{ended: make(chan struct{}, 16)}
	o.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Any Origin: the edge is what judges it (a route's cors).
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"echo"}, OriginPatterns: []string{"*"}})
		if err != nil {
			return // Accept answered the failed handshake
		}
		defer func() { o.ended <- struct{}{} }()
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		for {
			typ, msg, err := c.Read(context.Background())
			if err != nil {
				return
			}
			if err := c.Write(context.Background(), typ, append([]byte("echo "), msg...)); err != nil {
				return
			}
		}
	}))
	o.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			o.conns.Add(1)
		}
	}
	o.Start()
	t.Cleanup(o.Close)
	return o
}

// serveEdge starts a Handler for opts (its own store, name edged) on a test
// server that start prepares and starts (a strict listener, TLS, HTTP/2).
func serveEdge(t testing.TB, opts Options, start func(*httptest.Server)) *testEdge {
	t.Helper()
	store, err := storage.Open(storage.Options{Dir: t.TempDir(), Now: opts.Now})
	if err != nil {
		t.Fatal(err)
	}
	opts.Name, opts.Store = "edged", store
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	start(srv)
	e := &testEdge{Server: srv, tb: t, handler: h, store: store}
	t.Cleanup(e.stop)
	return e
}

// wsEdge serves sites through a Router on a listener with strict framing,
// as edged's own listeners are: the upgraded connection must be released
// from it.
func wsEdge(t testing.TB, sites ...*Site) *testEdge {
	t.Helper()
	rt, err := NewRouter(sites)
	if err != nil {
		t.Fatal(err)
	}
	return serveEdge(t, Options{Router: rt}, func(srv *httptest.Server) {
		srv.Listener = strictconn.WrapListener(srv.Listener, 1<<20)
		srv.Start()
	})
}

func wsSite(t testing.TB, upstream string, route *Route) *Site {
	route.PathPrefix, route.Upstream = "/", upstreamTo(t, upstream)
	return &Site{Name: "ws", Hosts: []string{"ws.example"}, Routes: []*Route{route}}
}

func dialWS(t testing.TB, e *testEdge, path string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	return dialWSWith(t, e, path, nil)
}

// dialWSWith opens a WebSocket to ws.example's path on e (wss when e serves
// TLS) with the request fields header; the connection ends with the test.
func dialWSWith(t testing.TB, e *testEdge, path string, header http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.URL, "http")+path, // wss for https
		&websocket.DialOptions{HTTPClient: e.Client(), Host: "ws.example", Subprotocols: []string{"echo"}, HTTPHeader: header})
	if c != nil {
		c.SetReadLimit(1 << 20)
		t.Cleanup(func() { c.CloseNow() })
	}
	return c, resp, err
}

func echo(t testing.TB, c *websocket.Conn, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	_, got, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if string(got) != "echo "+msg {
		t.Fatalf("got %q, want %q", got, "echo "+msg)
	}
}

// A real WebSocket client talks to a real WebSocket server through the
// edge: the handshake is forwarded with its Upgrade, the subprotocol the
// origin chose reaches the client, messages go both ways, and nothing of it
// is stored.
func TestWebSocketThroughRoute(t *testing.T) {
	o := newWSOrigin(t)
	e := wsEdge(t, wsSite(t, o.URL, &Route{WebSocket: &WebSocket{}}))
	c, resp, err := dialWS(t, e, "/chat")
	if err != nil {
		t.Fatalf("dial: %v (response %v)", err, resp)
	}
	if got := c.Subprotocol(); got != "echo" {
		t.Errorf("subprotocol = %q, want echo", got)
	}
	if cs := resp.Header.Get("Cache-Status"); !strings.Contains(cs, "fwd=bypass") || !strings.Contains(cs, policy.DetailWebSocket) {
		t.Errorf("Cache-Status = %q, want fwd=bypass with detail websocket", cs)
	}
	for _, msg := range []string{"one", strings.Repeat("x", 100<<10), "three"} {
		echo(t, c, msg)
	}
	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Errorf("close: %v", err)
	}
	<-o.ended
	// Nothing was stored: the plain GET goes upstream (and is refused by
	// the WebSocket server, not answered from a cache).
	r2, _ := e.get(t, "/chat", "Host", "ws.example")
	if isHit(r2) || r2.StatusCode == http.StatusSwitchingProtocols {
		t.Errorf("plain GET after the websocket: status %d, Cache-Status %q", r2.StatusCode, r2.Header.Get("Cache-Status"))
	}
}

// The route's access rules run before the handshake goes anywhere: a denied
// client gets 403 and the origin never sees a connection.
func TestWebSocketDeniedBeforeUpstream(t *testing.T) {
	o := newWSOrigin(t)
	deny, err := access.Compile(access.Rules{Deny: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	e := wsEdge(t, wsSite(t, o.URL, &Route{WebSocket: &WebSocket{}, Access: deny}))
	_, resp, err := dialWS(t, e, "/chat")
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("dial: err %v, response %v; want 403", err, resp)
	}
	if n := o.conns.Load(); n != 0 {
		t.Errorf("origin accepted %d connections, want 0", n)
	}
}

// Each client has at most MaxPerClient connections open on the route; one
// that ends makes room.
func TestWebSocketPerClientCap(t *testing.T) {
	o := newWSOrigin(t)
	ws := &WebSocket{MaxPerClient: 1}
	e := wsEdge(t, wsSite(t, o.URL, &Route{WebSocket: ws}))
	c, _, err := dialWS(t, e, "/a")
	if err != nil {
		t.Fatal(err)
	}
	echo(t, c, "first")
	if _, resp, err := dialWS(t, e, "/b"); err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second dial: err %v, response %v; want 429", err, resp)
	}
	c.CloseNow()
	waitFor(t, func() bool { ws.mu.Lock(); defer ws.mu.Unlock(); return len(ws.open) == 0 })
	c3, _, err := dialWS(t, e, "/c")
	if err != nil {
		t.Fatalf("dial after the first closed: %v", err)
	}
	echo(t, c3, "third")
}

// A connection quiet both ways for IdleTimeout is closed, at both ends.
func TestWebSocketIdleTimeout(t *testing.T) {
	o := newWSOrigin(t)
	e := wsEdge(t, wsSite(t, o.URL, &Route{WebSocket: &WebSocket{IdleTimeout: 200 * time.Millisecond}}))
	c, _, err := dialWS(t, e, "/idle")
	if err != nil {
		t.Fatal(err)
	}
	echo(t, c, "before")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	_, _, err = c.Read(ctx)
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read on an idle connection: %v, want it closed by the edge", err)
	}
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Errorf("closed after %v, before the idle timeout", took)
	}
	<-o.ended // the origin's side was closed too
}

// The handshake is checked before it goes upstream (RFC 6455 §4.2.1), and
// the upstream's 101 only counts with the accept value the key calls for.
func TestWebSocketHandshakeChecks(t *testing.T) {
	wrongAccept := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: d3Jvbmc=\r\n\r\n")
		_ = brw.Flush()
	}))
	t.Cleanup(wrongAccept.Close)
	// An origin that declines with a cacheable answer: passed on, not stored.
	declines := newOrigin(t, newClock(), static("no websocket here", "Cache-Control", "max-age=600"))
	o := newWSOrigin(t)
	good := wsEdge(t, wsSite(t, o.URL, &Route{WebSocket: &WebSocket{}}))
	bad := wsEdge(t, wsSite(t, wrongAccept.URL, &Route{WebSocket: &WebSocket{}}))
	declined := wsEdge(t, wsSite(t, declines.URL, &Route{WebSocket: &WebSocket{}}))
	key := "dGhlIHNhbXBsZSBub25jZQ=="
	for _, tt := range []struct {
		name   string
		e      *testEdge
		fields []string
		want   int
	}{
		{"version 8", good, []string{"Sec-WebSocket-Version", "8", "Sec-WebSocket-Key", key}, http.StatusUpgradeRequired},
		{"no key", good, []string{"Sec-WebSocket-Version", "13"}, http.StatusBadRequest},
		{"short key", good, []string{"Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "c2hvcnQ="}, http.StatusBadRequest},
		{"wrong accept", bad, []string{"Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", key}, http.StatusBadGateway},
		{"declined", declined, []string{"Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", key}, http.StatusOK},
		{"declined again", declined, []string{"Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", key}, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fields := append([]string{"Host", "ws.example", "Connection", "Upgrade", "Upgrade", "websocket"}, tt.fields...)
			resp, _ := tt.e.get(t, "/chat", fields...)
			if resp.StatusCode != tt.want {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.want)
			}
			if isHit(resp) {
				t.Errorf("a handshake was answered from the cache: %q", resp.Header.Get("Cache-Status"))
			}
			if tt.want == http.StatusUpgradeRequired && resp.Header.Get("Sec-WebSocket-Version") != "13" {
				t.Errorf("426 without Sec-WebSocket-Version: 13")
			}
		})
	}
	if n := o.conns.Load(); n != 0 {
		t.Errorf("refused handshakes reached the origin (%d connections)", n)
	}
	if n := declines.requests.Load(); n != 2 {
		t.Errorf("declining origin saw %d handshakes, want 2 (none answered from the cache)", n)
	}
}

// A route without WebSocket serves an upgrade request as a plain request:
// the origin never sees Upgrade (RFC 9110 §7.8).
func TestWebSocketOffByDefault(t *testing.T) {
	o := newWSOrigin(t)
	e := wsEdge(t, wsSite(t, o.URL, &Route{}))
	if _, resp, err := dialWS(t, e, "/chat"); err == nil || resp == nil || resp.StatusCode == http.StatusSwitchingProtocols {
		t.Fatalf("dial through a route without websocket: err %v, response %v; want a refusal", err, resp)
	}
}

// Handler.Close ends open WebSocket connections at once rather than
// waiting for their clients.
func TestWebSocketEndedByClose(t *testing.T) {
	o := newWSOrigin(t)
	e := wsEdge(t, wsSite(t, o.URL, &Route{WebSocket: &WebSocket{}}))
	c, _, err := dialWS(t, e, "/chat")
	if err != nil {
		t.Fatal(err)
	}
	echo(t, c, "open")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.handler.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, _, err := c.Read(ctx); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read after Close: %v, want the connection closed", err)
	}
}

// wsClientFrame is a masked frame (RFC 6455 §5.2, as a client must send it)
// with a payload under 126 bytes.
func wsClientFrame(op byte, payload []byte) []byte {
	mask := [4]byte{0x12, 0x34, 0x56, 0x78}
	b := append([]byte{0x80 | op, 0x80 | byte(len(payload))}, mask[:]...)
	for i, c := range payload {
		b = append(b, c^mask[i%4])
	}
	return b
}

// startH2 starts a test server over TLS with HTTP/2.
func startH2(srv *httptest.Server) {
	srv.EnableHTTP2 = true
	srv.StartTLS()
}

// reranWithExtendedConnect runs t again in a child process with
// GODEBUG=http2xconnect=1, which Go's HTTP/2 server reads at start to
// accept extended CONNECT (edged's main re-executes itself so), and
// reports true once it passed there; in the child it reports false, and
// the test runs.
func reranWithExtendedConnect(t *testing.T) bool {
	t.Helper()
	if strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1") {
		return false
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "GODEBUG="+strings.Trim(os.Getenv("GODEBUG")+",http2xconnect=1", ","))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("child with GODEBUG=http2xconnect=1: %v\n%s", err, out)
	}
	return true
}

// h2WebSocketOpener returns a function that opens a WebSocket over
// HTTP/2 to srv (RFC 8441: an extended CONNECT with :protocol websocket)
// for host and path, and returns the response and the writer of the
// stream's request body.
func h2WebSocketOpener(t *testing.T, srv *httptest.Server) func(host, path string) (*http.Response, *io.PipeWriter) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	// net/http's transport refuses the :protocol pseudo-header (an invalid
	// field name to it); x/net's HTTP/2 transport sends it (RFC 8441 §4).
	//lint:ignore SA1019 the deprecated x/net transport is the one that speaks extended CONNECT
	h2c := &http2.Transport{TLSClientConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig}
	t.Cleanup(h2c.CloseIdleConnections) //lint:ignore SA1019 see h2c
	return func(host, path string) (*http.Response, *io.PipeWriter) {
		pr, pw := io.Pipe()
		req, err := http.NewRequestWithContext(ctx, http.MethodConnect, srv.URL+path, pr)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		req.Header.Set(":protocol", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Protocol", "echo")
		resp, err := h2c.RoundTrip(req) //lint:ignore SA1019 see h2c
		if err != nil {
			t.Fatalf("extended CONNECT: %v", err)
		}
		t.Cleanup(func() { resp.Body.Close(); pw.Close() })
		return resp, pw
	}
}

// readServerFrame reads an unmasked frame with a payload under 126 bytes.
func readServerFrame(r io.Reader) (byte, []byte, error) {
	var head [2]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return 0, nil, err
	}
	payload := make([]byte, head[1]&0x7f)
	_, err := io.ReadFull(r, payload)
	return head[0] & 0x0f, payload, err
}

// A WebSocket opened over HTTP/2 with extended CONNECT (RFC 8441) reaches
// the real WebSocket server behind the edge, which speaks HTTP/1.1: the edge
// makes the key, checks the accept, answers 200 and relays DATA frames.
// net/http enables extended CONNECT only with GODEBUG=http2xconnect=1 set
// when the process starts, so the test runs itself in a child that has it.
func TestWebSocketOverHTTP2(t *testing.T) {
	if reranWithExtendedConnect(t) {
		return
	}
	o := newWSOrigin(t)
	deny, err := access.Compile(access.Rules{DenyPaths: []string{"/denied"}})
	if err != nil {
		t.Fatal(err)
	}
	plain := &Site{Name: "plain", Hosts: []string{"plain.example"}, Routes: []*Route{{PathPrefix: "/", Upstream: upstreamTo(t, o.URL)}}}
	rt, err := NewRouter([]*Site{wsSite(t, o.URL, &Route{WebSocket: &WebSocket{}, Access: deny}), plain})
	if err != nil {
		t.Fatal(err)
	}
	open := h2WebSocketOpener(t, serveEdge(t, Options{Router: rt}, startH2).Server)
	if resp, _ := open("ws.example", "/denied"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("denied path: status %d, want 403", resp.StatusCode)
	}
	if resp, _ := open("plain.example", "/chat"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("route without websocket: status %d, want 405", resp.StatusCode)
	}
	if n := o.conns.Load(); n != 0 {
		t.Errorf("the denied opening reached the origin (%d connections)", n)
	}
	resp, pw := open("ws.example", "/chat")
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK || resp.Header.Get("Sec-WebSocket-Protocol") != "echo" {
		t.Fatalf("opening answered %s %d, subprotocol %q; want HTTP/2 200 echo", resp.Proto, resp.StatusCode, resp.Header.Get("Sec-WebSocket-Protocol"))
	}
	for _, msg := range []string{"hello", "again"} {
		if _, err := pw.Write(wsClientFrame(0x1, []byte(msg))); err != nil {
			t.Fatal(err)
		}
		op, payload, err := readServerFrame(resp.Body)
		if err != nil || op != 0x1 || string(payload) != "echo "+msg {
			t.Fatalf("echo frame: op %d %q, %v", op, payload, err)
		}
	}
	// RFC 6455 §5.5.1: the close handshake, then the stream ends.
	if _, err := pw.Write(wsClientFrame(0x8, []byte{0x03, 0xe8})); err != nil {
		t.Fatal(err)
	}
	if op, _, err := readServerFrame(resp.Body); err != nil || op != 0x8 {
		t.Fatalf("close frame: op %d, %v", op, err)
	}
	pw.Close()
	<-o.ended
}

// The WAF of a WebSocket route inspects the handshake, which is an HTTP
// request: an attack in its query is refused before any connection
// upstream. The messages that follow are bytes relayed as they are, never
// inspected: an attack in one reaches the origin (an open window,
// docs/security.md).
func TestWAFInspectsWebSocketHandshakeOnly(t *testing.T) {
	o := newWSOrigin(t)
	e := wsEdge(t, wsSite(t, o.URL, &Route{WebSocket: &WebSocket{}, WAF: mustWAF(t, waf.Options{Mode: waf.ModeBlock})}))
	if _, resp, err := dialWS(t, e, "/chat?id=1'%20OR%20'1'='1"); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("handshake with an attack: err %v, response %v; want 403", err, resp)
	}
	if n := o.conns.Load(); n != 0 {
		t.Errorf("the refused handshake reached the origin (%d connections)", n)
	}
	c, resp, err := dialWS(t, e, "/chat")
	if err != nil {
		t.Fatalf("dial: %v (response %v)", err, resp)
	}
	echo(t, c, "1' OR '1'='1 <script>alert(1)</script>")
}

// A client that keeps a connection busy (a message every few
// milliseconds, so never idle) is still cut at the route's MaxDuration:
// both sides get a close frame with status 1001 (going away), the origin's
// connection ends, and the end is counted. Before, a trickle held the
// upstream connection for as long as the client liked.
func TestWebSocketMaxDuration(t *testing.T) {
	o := newWSOrigin(t)
	const limit = 300 * time.Millisecond
	e := wsEdge(t, wsSite(t, o.URL, &Route{WebSocket: &WebSocket{IdleTimeout: time.Minute, MaxDuration: limit}}))
	c, _, err := dialWS(t, e, "/trickle")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := 0; ; i++ {
		if err = c.Write(ctx, websocket.MessageText, []byte("tick")); err == nil {
			_, _, err = c.Read(ctx)
		}
		if err != nil {
			break
		}
		if time.Since(start) > 20*limit {
			t.Fatalf("still open after %d messages over %v: no duration limit", i, time.Since(start))
		}
		time.Sleep(limit / 30) // the trickle: never idle
	}
	if took := time.Since(start); took < limit*8/10 {
		t.Errorf("closed after %v, before MaxDuration %v", took, limit)
	}
	if got := websocket.CloseStatus(err); got != websocket.StatusGoingAway {
		t.Errorf("client's read ended with %v (status %d), want a close frame with 1001", err, got)
	}
	select {
	case <-o.ended:
	case <-ctx.Done():
		t.Fatal("the origin's connection stayed open")
	}
	m := e.handler.metrics.wsClosed.WithLabelValues(wsMaxDuration)
	waitFor(t, func() bool { return testutil.ToFloat64(m) == 1 })
}

// A close frame owed at MaxDuration waits for the frame under way to end
// (RFC 6455 §5.4: a control frame goes between frames, never inside one),
// and nothing of the peer's follows it.
func TestWebSocketCloseAtFrameBoundary(t *testing.T) {
	var out strings.Builder
	g := &wsGate{w: &out, close: wsCloseFrame(wsStatusGoingAway, "bye", false)}
	first := append([]byte{0x82, 126, 0x01, 0x00}, make([]byte, 256)...) // binary, 256 bytes
	second := []byte{0x81, 2, 'h', 'i'}
	mustWrite := func(p []byte) {
		t.Helper()
		if n, err := g.Write(p); n != len(p) || err != nil {
			t.Fatalf("write: %d, %v", n, err)
		}
	}
	mustWrite(first[:3]) // mid-header
	g.sendClose()
	if out.Len() != 3 {
		t.Fatalf("close frame sent mid-frame: %q", out.String())
	}
	mustWrite(first[3:100])
	mustWrite(append(first[100:], second...))
	mustWrite(second)
	want := string(first) + string(wsCloseFrame(wsStatusGoingAway, "bye", false))
	if out.String() != want {
		t.Fatalf("sent %d bytes %q...,\nwant the first frame then the close frame (%d bytes)", out.Len(), out.String()[len(first):], len(want))
	}
	// At a boundary it goes at once.
	out.Reset()
	g = &wsGate{w: &out, close: []byte{0x88, 0}}
	mustWrite(second)
	g.sendClose()
	if out.String() != string(second)+"\x88\x00" {
		t.Fatalf("at a boundary: sent %q", out.String())
	}
}

// A client that stalls in the middle of a frame when MaxDuration comes is
// still sent its close frame (the upstream's direction is at a boundary),
// and is cut once the close grace has passed without the close handshake
// ending the connection; the origin's side ends too.
func TestWebSocketMaxDurationCutsStalledFrame(t *testing.T) {
	o := newWSOrigin(t)
	const limit, grace = 200 * time.Millisecond, 300 * time.Millisecond
	e := wsEdge(t, wsSite(t, o.URL, &Route{WebSocket: &WebSocket{IdleTimeout: time.Minute, MaxDuration: limit, closeGrace: grace}}))
	conn, err := net.Dial("tcp", hostAddr(e.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(conn, "GET /chat HTTP/1.1\r\nHost: ws.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: echo\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	start := time.Now()
	// A masked text frame of 100 bytes, of which 10 are sent.
	_, _ = conn.Write(append([]byte{0x81, 0x80 | 100, 1, 2, 3, 4}, make([]byte, 10)...))
	op, payload, err := readServerFrame(br)
	if err != nil || op != 0x8 || len(payload) < 2 || int(payload[0])<<8|int(payload[1]) != wsStatusGoingAway {
		t.Fatalf("frame after MaxDuration: op %#x %q %v, want a close with 1001", op, payload, err)
	}
	if took := time.Since(start); took < limit*8/10 {
		t.Errorf("close frame after %v, before MaxDuration", took)
	}
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("bytes after the close frame")
	}
	if took := time.Since(start); took < limit+grace*8/10 || took > 5*time.Second {
		t.Errorf("cut after %v, want about MaxDuration + grace (%v)", took, limit+grace)
	}
	select {
	case <-o.ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the origin's connection stayed open")
	}
}

// TestWebSocketPerClientCapIPv6 is the attack of an IPv6 client on a
// route's max_per_client: it holds a /64 and may send from any of its
// addresses, and the cap counted each address on its own, so it opened
// as many upstream connections as addresses it cared to use. The client
// is counted by its /64 now, as the rate limiter counts it. Its address
// comes from a trusted proxy's X-Forwarded-For here: the test's sockets
// have only ::1.
func TestWebSocketPerClientCapIPv6(t *testing.T) {
	o := newWSOrigin(t)
	rt, err := NewRouter([]*Site{wsSite(t, o.URL, &Route{WebSocket: &WebSocket{MaxPerClient: 2}})})
	if err != nil {
		t.Fatal(err)
	}
	resolver := clientip.New(clientip.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	e := serveEdge(t, Options{Router: rt, ClientIP: resolver}, func(srv *httptest.Server) {
		srv.Listener = strictconn.WrapListener(srv.Listener, 1<<20)
		srv.Start()
	})
	dialFrom := func(client string) (*websocket.Conn, *http.Response, error) {
		return dialWSWith(t, e, "/live", http.Header{"X-Forwarded-For": {client}})
	}
	for _, client := range []string{"2001:db8:1:1::1", "2001:db8:1:1::2"} {
		c, _, err := dialFrom(client)
		if err != nil {
			t.Fatalf("%s: %v", client, err)
		}
		echo(t, c, client)
	}
	for _, client := range []string{"2001:db8:1:1::3", "2001:db8:1:1:ffff:ffff:ffff:ffff"} {
		if _, resp, err := dialFrom(client); err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("%s, a third address of the /64: err %v, response %v; want 429", client, err, resp)
		}
	}
	if n := o.conns.Load(); n != 2 {
		t.Errorf("the origin got %d connections, want 2", n)
	}
	// Another /64 is another client.
	c, _, err := dialFrom("2001:db8:1:2::1")
	if err != nil {
		t.Fatalf("a client of another /64: %v", err)
	}
	echo(t, c, "other")
}

// TestWebSocketPerClientCapHTTP2 holds max_per_client over HTTP/2, where
// each WebSocket is a stream of one connection (RFC 8441): the stream past
// the cap is answered 429 and never reaches the origin, and one that ends
// makes room.
func TestWebSocketPerClientCapHTTP2(t *testing.T) {
	if reranWithExtendedConnect(t) {
		return
	}
	o := newWSOrigin(t)
	ws := &WebSocket{MaxPerClient: 2}
	rt, err := NewRouter([]*Site{wsSite(t, o.URL, &Route{WebSocket: ws})})
	if err != nil {
		t.Fatal(err)
	}
	openAt := h2WebSocketOpener(t, serveEdge(t, Options{Router: rt}, startH2).Server)
	open := func() (*http.Response, *io.PipeWriter) { return openAt("ws.example", "/live") }
	var pws []*io.PipeWriter
	for i := range 2 {
		resp, pw := open()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d: status %d, want 200", i, resp.StatusCode)
		}
		pws = append(pws, pw)
	}
	if resp, _ := open(); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("third stream: status %d, want 429", resp.StatusCode)
	}
	if n := o.conns.Load(); n != 2 {
		t.Errorf("the origin got %d connections, want 2", n)
	}
	pws[0].Close() // the client ends its side: the relay ends
	<-o.ended
	waitFor(t, func() bool { ws.mu.Lock(); defer ws.mu.Unlock(); return ws.open[netip.MustParseAddr("127.0.0.1")] < 2 })
	if resp, _ := open(); resp.StatusCode != http.StatusOK {
		t.Errorf("stream after one ended: status %d, want 200", resp.StatusCode)
	}
}

// TestWebSocketOriginOfCORSRoute is cross-site WebSocket hijacking: a
// route with a CORS policy naming the origins whose pages may use it also
// carries WebSockets, to which browsers apply no CORS check. A page of any
// other origin opened one (with its user's cookies, which the origin
// server authenticates) and read the messages. The handshake is now
// judged by its Origin: none (not a browser), the site's own, or one the
// policy allows; others get 403 and never reach the origin.
func TestWebSocketOriginOfCORSRoute(t *testing.T) {
	o := newWSOrigin(t)
	policy, err := cors.New(cors.Options{AllowedOrigins: []string{"https://app.example", "https://*.tenant.example"}, AllowCredentials: true})
	if err != nil {
		t.Fatal(err)
	}
	e := wsEdge(t, wsSite(t, o.URL, &Route{WebSocket: &WebSocket{}, CORS: policy}))
	dial := func(origins ...string) (*websocket.Conn, *http.Response, error) {
		return dialWSWith(t, e, "/live", http.Header{"Origin": origins})
	}
	for _, origins := range [][]string{
		{"https://evil.example"},
		{"https://app.example.evil.example"},
		{"null"},
		{"https://evil.example/.tenant.example"},
		{"https://app.example", "https://evil.example"},
		{"http://ws.example.evil.example"},
	} {
		if _, resp, err := dial(origins...); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("Origin %q: err %v, response %v; want 403", origins, err, resp)
		}
	}
	if n := o.conns.Load(); n != 0 {
		t.Fatalf("refused handshakes reached the origin (%d connections)", n)
	}
	for _, origins := range [][]string{nil, {"https://app.example"}, {"https://a.tenant.example"}, {"https://ws.example"}, {"http://WS.example"}} {
		c, _, err := dial(origins...)
		if err != nil {
			t.Errorf("Origin %q: %v, want the connection", origins, err)
			continue
		}
		echo(t, c, "hello")
	}
}

// On an https request, an http Origin of the route's own host is another
// origin (RFC 6454): a plain-HTTP page, which anyone on the network path can
// write, must not open a WebSocket to the https site with its user's
// cookies. It is refused with 403 and never reaches the origin; the https
// page of the same host passes. Fails on the old code, which compared
// Origin's host alone.
func TestWebSocketOriginSchemeOfCORSRoute(t *testing.T) {
	o := newWSOrigin(t)
	policy, err := cors.New(cors.Options{AllowedOrigins: []string{"https://app.example"}, AllowCredentials: true})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := NewRouter([]*Site{wsSite(t, o.URL, &Route{WebSocket: &WebSocket{}, CORS: policy})})
	if err != nil {
		t.Fatal(err)
	}
	e := serveEdge(t, Options{Router: rt}, func(srv *httptest.Server) { srv.StartTLS() })
	dial := func(origin string) (*websocket.Conn, *http.Response, error) {
		return dialWSWith(t, e, "/live", http.Header{"Origin": {origin}})
	}
	for _, origin := range []string{"http://ws.example", "http://app.example"} {
		if _, resp, err := dial(origin); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("Origin %q on https: err %v, response %v; want 403", origin, err, resp)
		}
	}
	if n := o.conns.Load(); n != 0 {
		t.Fatalf("refused handshakes reached the origin (%d connections)", n)
	}
	for _, origin := range []string{"https://ws.example", "https://app.example"} {
		c, _, err := dial(origin)
		if err != nil {
			t.Errorf("Origin %q on https: %v, want the connection", origin, err)
			continue
		}
		echo(t, c, "hello")
	}
}

// A route with auth but no cors does not judge Origin, and needs not: its
// credentials are a bearer token or an API key in a header, which a
// browser's WebSocket cannot send (the API takes no headers), so a
// cross-site page's handshake carries none and is refused 401 before the
// origin; a client that sends the key is not a browser page, whatever
// Origin it names. (Cookies the origin server itself checks are its own:
// cors on the route makes the edge judge Origin for them.)
func TestWebSocketAuthRouteWithoutCORS(t *testing.T) {
	o := newWSOrigin(t)
	v, err := auth.NewVerifier(auth.Options{APIKeys: &auth.APIKeyOptions{Keys: []string{"k-123"}}})
	if err != nil {
		t.Fatal(err)
	}
	e := wsEdge(t, wsSite(t, o.URL, &Route{WebSocket: &WebSocket{}, Auth: v}))
	dial := func(fields http.Header) (*websocket.Conn, *http.Response, error) {
		return dialWSWith(t, e, "/live", fields)
	}
	// What a browser on another site sends: its Origin, cookies, no key.
	if _, resp, err := dial(http.Header{"Origin": {"https://evil.example"}, "Cookie": {"session=1"}}); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("cross-site browser handshake: err %v, response %v; want 401", err, resp)
	}
	if n := o.conns.Load(); n != 0 {
		t.Fatalf("a handshake without credentials reached the origin (%d connections)", n)
	}
	c, _, err := dial(http.Header{"Origin": {"https://tool.example"}, "X-Api-Key": {"k-123"}})
	if err != nil {
		t.Fatalf("handshake with the key: %v", err)
	}
	echo(t, c, "hello")
}
