package main

// The HTTPS listener's own handshakes (tlsListener): HTTP/1 over TLS gets
// the plain listener's framing checks (the cases of
// edge/internal/framingtest), keeps Request.TLS, SNI, the PROXY protocol
// and max_connections; HTTP/2 is unchanged; stalled handshakes hold up no
// one and end with the listener. Real TLS on 127.0.0.1, real origins.

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"edged/edge/internal/framingtest"
)

// echoOrigin answers "<method> <path> body=<bytes read> proto=<X-Forwarded-Proto>",
// cacheable, and records who sent what: the X-Forwarded-For the node adds
// is the client's address, so each test client dials from its own.
type echoOrigin struct {
	*httptest.Server
	mu   sync.Mutex
	seen map[string][]string // client address -> "METHOD path" received
}

func newEchoOrigin(t testing.TB) *echoOrigin {
	t.Helper()
	o := &echoOrigin{seen: make(map[string][]string)}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		o.mu.Lock()
		from := r.Header.Get("X-Forwarded-For")
		o.seen[from] = append(o.seen[from], r.Method+" "+r.URL.Path)
		o.mu.Unlock()
		w.Header().Set("Cache-Control", "public, max-age=300")
		fmt.Fprintf(w, "%s %s body=%d proto=%s\n", r.Method, r.URL.Path, n, r.Header.Get("X-Forwarded-Proto"))
	}))
	t.Cleanup(o.Close)
	return o
}

// from returns what the origin received from the client at addr.
func (o *echoOrigin) from(addr string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.seen[addr]...)
}

// clientAddrs hands out loopback source addresses, one per test client.
type clientAddrs struct{ next int }

func (a *clientAddrs) get() string {
	a.next++
	return fmt.Sprintf("127.0.%d.%d", 1+a.next/250, a.next%250+1)
}

// listenerKind is how a test client reaches one of the node's public
// listeners with HTTP/1.
type listenerKind struct {
	name string
	dial func(t testing.TB, h *h2Node, from string) net.Conn
}

func framingListeners() []listenerKind {
	tlsDial := func(nextProtos []string) func(testing.TB, *h2Node, string) net.Conn {
		return func(t testing.TB, h *h2Node, from string) net.Conn {
			t.Helper()
			c := tls.Client(dialFrom(t, from, h.addr), &tls.Config{ServerName: "h2.test", RootCAs: h.ca.pool, NextProtos: nextProtos})
			_ = c.SetDeadline(time.Now().Add(startTimeout))
			if err := c.Handshake(); err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if p := c.ConnectionState().NegotiatedProtocol; p == "h2" {
				t.Fatalf("ALPN negotiated %q", p)
			}
			return c
		}
	}
	return []listenerKind{
		{"plain", func(t testing.TB, h *h2Node, from string) net.Conn {
			return dialFrom(t, from, strings.TrimPrefix(h.f.public, "http://"))
		}},
		{"TLS ALPN http-1.1", tlsDial([]string{"http/1.1"})},
		{"TLS no ALPN", tlsDial(nil)},
	}
}

// exchangeResult is one response read off a raw connection.
type exchangeResult struct {
	status int // 0: the connection closed without this response
	body   string
}

// exchanges writes raw (possibly pipelined requests) on conn and reads up
// to n responses, fewer when the node closes the connection.
func exchanges(t testing.TB, conn net.Conn, raw string, n int) []exchangeResult {
	t.Helper()
	_ = conn.SetDeadline(time.Now().Add(startTimeout))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	out := make([]exchangeResult, n)
	for i := range out {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			break
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out[i] = exchangeResult{status: resp.StatusCode, body: string(b)}
	}
	return out
}

// TestTLSFramingRefused sends every case of framingtest.Refused (the table
// of TestHostileFramingRefused) to both public listeners of one node, over
// TLS with ALPN http/1.1 and with no ALPN: each is answered as on the plain
// listener (400 where net/http would have read Content-Length with
// Transfer-Encoding, obs-fold or a bare LF its own way), the connection is
// closed, and neither the request (unless its header is sound) nor the
// smuggled one after it reaches the origin.
func TestTLSFramingRefused(t *testing.T) {
	o := newEchoOrigin(t)
	h := startH2Node(t, originYAML(o.URL), "")
	var addrs clientAddrs
	for _, l := range framingListeners() {
		t.Run(l.name, func(t *testing.T) {
			for _, tt := range framingtest.Refused() {
				t.Run(tt.Name, func(t *testing.T) {
					from := addrs.get()
					rs := exchanges(t, l.dial(t, h, from), tt.Raw+framingtest.Smuggled, 2)
					if tt.Status != 0 && rs[0].status != tt.Status {
						t.Errorf("status %d, want %d", rs[0].status, tt.Status)
					}
					if rs[1].status != 0 {
						t.Errorf("a second response (%d) on the connection: it was not closed", rs[1].status)
					}
					// The node answers only once it has the origin's
					// answer, so a forwarded request is recorded by now.
					for _, got := range o.from(from) {
						if got == "GET /smuggled" || (strings.HasPrefix(got, "POST ") && !tt.HeadOK) {
							t.Errorf("origin received %s", got)
						}
					}
				})
			}
		})
	}
}

// TestTLSFramingAllowed: the well-framed pipeline of framingtest.Allowed
// passes unchanged over TLS as over plain HTTP, every request answered in
// order on the one connection.
func TestTLSFramingAllowed(t *testing.T) {
	o := newEchoOrigin(t)
	h := startH2Node(t, originYAML(o.URL), "")
	var addrs clientAddrs
	for _, l := range framingListeners() {
		t.Run(l.name, func(t *testing.T) {
			want := framingtest.AllowedRequests()
			rs := exchanges(t, l.dial(t, h, addrs.get()), framingtest.Allowed, len(want))
			for i, r := range rs {
				prefix := fmt.Sprintf("%s %s body=%d ", want[i].Method, want[i].Path, want[i].BodyLen)
				if r.status != http.StatusOK || !strings.HasPrefix(r.body, prefix) {
					t.Errorf("response %d: %d %q, want 200 %q...", i+1, r.status, r.body, prefix)
				}
			}
		})
	}
}

// http1Client is tlsClient limited to HTTP/1.1 (ALPN "http/1.1").
func http1Client(ca *testCA, addr string) (*http.Client, *http.Transport) {
	c, tr := tlsClient(ca, addr)
	tr.ForceAttemptHTTP2 = false
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetHTTP1(true)
	tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	return c, tr
}

// TestTLSHTTP1KeepsRequestTLS: HTTP/1.1 requests over TLS reach the
// handler through strictconn.Wrap, not as a *tls.Conn, and are still
// HTTPS to it: no redirect to https (which would loop), HSTS sent,
// X-Forwarded-Proto https to the origin, the https cache key (an HTTP/2
// request hits the entry; plain HTTP does not), and SNI picks the
// certificate as before.
func TestTLSHTTP1KeepsRequestTLS(t *testing.T) {
	o := newEchoOrigin(t)
	dir := t.TempDir()
	ca := newTestCA(t)
	aCert, aKey := filepath.Join(dir, "a.crt"), filepath.Join(dir, "a.key")
	bCert, bKey := filepath.Join(dir, "b.crt"), filepath.Join(dir, "b.key")
	aSerial := ca.issue(t, aCert, aKey, "a.test")
	bSerial := ca.issue(t, bCert, bKey, "*.b.test")
	cfg := parseNodeConfig(t, fmt.Sprintf(`
upstream: {origin: %s}
tls:
  listen: 127.0.0.1:0
  certificates: [{cert: %s, key: %s}, {cert: %s, key: %s}]
sites:
  - name: a
    hosts: [a.test]
    https_redirect: true
    hsts: "max-age=31536000"
    routes: [{path: /}]
  - name: b
    hosts: ["*.b.test"]
    routes: [{path: /}]
`, o.URL, aCert, aKey, bCert, bKey))
	f := startFleetNode(t, cfg)
	addr := f.n.tlsLn.Addr().String()
	h1, h1Tr := http1Client(ca, addr)
	defer h1Tr.CloseIdleConnections()
	h2, h2Tr := tlsClient(ca, addr)
	defer h2Tr.CloseIdleConnections()

	resp, body := get(t, h1, "https://a.test/x")
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 1 || body != "GET /x body=0 proto=https\n" {
		t.Fatalf("HTTP/1.1 over TLS: %d HTTP/%d %q (Location %q), want 200 HTTP/1 \"GET /x body=0 proto=https\"",
			resp.StatusCode, resp.ProtoMajor, body, resp.Header.Get("Location"))
	}
	if v := resp.Header.Get("Strict-Transport-Security"); v != "max-age=31536000" {
		t.Errorf("HTTP/1.1 over TLS: Strict-Transport-Security %q, want max-age=31536000", v)
	}
	if got := servedSerial(resp); got != aSerial.String() {
		t.Errorf("HTTP/1.1 over TLS to a.test: certificate %s, want %s", got, aSerial)
	}
	if resp, _ := get(t, h2, "https://a.test/x"); resp.ProtoMajor != 2 || !strings.Contains(resp.Header.Get("Cache-Status"), "hit") {
		t.Errorf("HTTP/2 after HTTP/1.1 over TLS: HTTP/%d, Cache-Status %q; want a hit over HTTP/2 (one https key)",
			resp.ProtoMajor, resp.Header.Get("Cache-Status"))
	}

	resp, body = get(t, h1, "https://cdn.b.test/z")
	if got := servedSerial(resp); got != bSerial.String() || body != "GET /z body=0 proto=https\n" {
		t.Errorf("HTTP/1.1 over TLS to cdn.b.test: certificate %s, body %q; want %s and proto=https", got, body, bSerial)
	}
	resp, body = get(t, &http.Client{}, f.public+"/z", "Host", "cdn.b.test")
	if strings.Contains(resp.Header.Get("Cache-Status"), "hit") || body != "GET /z body=0 proto=http\n" {
		t.Errorf("plain HTTP after HTTPS: Cache-Status %q, body %q; want a miss with proto=http (another key)",
			resp.Header.Get("Cache-Status"), body)
	}
}

// TestTLSStalledHandshakes: clients that connect to the HTTPS listener and
// send nothing, or half a ClientHello, do not delay anyone else's
// handshake (each runs off the accept loop), over HTTP/1.1 or HTTP/2;
// they are cut after server.read_header_timeout and counted in
// edged_tls_handshake_errors_total.
func TestTLSStalledHandshakes(t *testing.T) {
	o := newEchoOrigin(t)
	h := startH2Node(t, originYAML(o.URL), "  read_header_timeout: 5s\n")
	const stalled = 20
	start := time.Now()
	conns := make([]net.Conn, stalled)
	for i := range conns {
		c, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if i%2 == 1 {
			_, _ = c.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01}) // a ClientHello's first bytes
		}
		conns[i] = c
	}
	h1, h1Tr := http1Client(h.ca, h.addr)
	defer h1Tr.CloseIdleConnections()
	h2, h2Tr := tlsClient(h.ca, h.addr)
	defer h2Tr.CloseIdleConnections()
	for _, c := range []*http.Client{h1, h2} {
		// Handshakes one after another would take 20 x 5 s to reach this
		// client's.
		c.Timeout = 10 * time.Second
		if resp, _ := get(t, c, "https://h2.test/ok"); resp.StatusCode != http.StatusOK {
			t.Errorf("beside %d stalled handshakes: status %d", stalled, resp.StatusCode)
		}
	}
	// Served while every stalled handshake is still waiting: checkable only
	// while read_header_timeout (5s) has not run out, which a loaded machine
	// may have spent on the two requests above.
	for i, c := range conns {
		if time.Since(start) > 4*time.Second {
			t.Logf("the requests took %v: too late to see the stalled handshakes still open", time.Since(start))
			break
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		var ne net.Error
		if _, err := c.Read(make([]byte, 1)); !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("stalled handshake %d ended (%v) before the other clients were served", i, err)
		}
	}
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(startTimeout))
		_, err := io.Copy(io.Discard, c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("stalled handshake %d still open after %v", i, startTimeout)
		}
	}
	if took := time.Since(start); took < 5*time.Second {
		t.Errorf("stalled handshakes cut after %v, before read_header_timeout 5s", took)
	}
	if got := metricValue(t, h.f.admin, "edged_tls_handshake_errors_total"); got != stalled {
		t.Errorf("edged_tls_handshake_errors_total = %v, want %d", got, stalled)
	}
}

// TestTLSListenerClose: closing the listener (what http.Server.Shutdown
// does) at once closes the connections still in their handshake (not after
// the handshake timeout) and those handshaken but not yet accepted, ends
// Accept, and leaves none of the listener's goroutines behind.
func TestTLSListenerClose(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	certFile, keyFile := filepath.Join(dir, "l.crt"), filepath.Join(dir, "l.key")
	ca.issue(t, certFile, keyFile, "l.test")
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := inner.Addr().String()
	l := newTLSListener(inner, &tls.Config{Certificates: []tls.Certificate{cert}}, time.Minute, 0, slog.New(slog.DiscardHandler), nil)
	pending := func(n int) func() bool {
		return func() bool {
			l.mu.Lock()
			defer l.mu.Unlock()
			return len(l.pending) == n
		}
	}
	dialTLS := func() net.Conn {
		c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "l.test", RootCAs: ca.pool})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	// One connection is accepted, which starts the accept loop.
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			t.Errorf("Accept: %v", err)
		}
		accepted <- c
	}()
	dialTLS()
	if c := <-accepted; c != nil {
		c.Close()
	}
	// One is handshaken but not accepted (nobody calls Accept), one
	// stalls in its handshake.
	handshaken := dialTLS()
	waitUntil(t, pending(0))
	stalled, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	waitUntil(t, pending(1))

	start := time.Now()
	if err := l.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	for name, c := range map[string]net.Conn{"handshaken": handshaken, "stalled": stalled} {
		_ = c.SetReadDeadline(time.Now().Add(startTimeout))
		_, err := io.Copy(io.Discard, c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("the %s connection is still open after Close", name)
		}
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Close and the connections' end took %v (handshake timeout 1m)", took)
	}
	if c, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v, %v; want net.ErrClosed", c, err)
	}
	// Close waits until the listener's goroutines are done; one may still
	// be seen returning (past its WaitGroup.Done), but none may stay.
	buf := make([]byte, 1<<20)
	var stacks string
	defer func() {
		if t.Failed() {
			t.Logf("goroutines of the listener still run after Close:\n%s", stacks)
		}
	}()
	waitUntil(t, func() bool {
		stacks = string(buf[:runtime.Stack(buf, true)])
		return !strings.Contains(stacks, "(*tlsListener)")
	})
}

// TestTLSProxyProtocolAndMaxConnections: the PROXY protocol and
// max_connections still apply under the listener's handshakes, over
// HTTP/1.1 and HTTP/2 alike: the client address is the one in the PROXY
// header (an access rule allows it), and while the only connection slot is
// taken a second client does not even get its handshake.
func TestTLSProxyProtocolAndMaxConnections(t *testing.T) {
	o := newEchoOrigin(t)
	f, ca := tlsNode(t, o.Server, `server:
  trusted_proxies: [127.0.0.2]
  proxy_protocol: true
  max_connections: 1
sites:
  - name: p
    hosts: [a.test]
    routes:
      - path: /
        access: {allow: [198.51.100.0/24]}
`)
	addr := f.n.tlsLn.Addr().String()
	const header = "PROXY TCP4 198.51.100.7 127.0.0.1 5555 443\r\n"
	// client speaks HTTP/1.1 or HTTP/2 over TCP connections from `from`
	// that start with prefix.
	client := func(from, prefix string, http2 bool) (*http.Client, *http.Transport) {
		c, tr := tlsClient(ca, addr)
		if !http2 {
			c, tr = http1Client(ca, addr)
		}
		tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
			conn, err := d.DialContext(ctx, network, addr)
			if err == nil && prefix != "" {
				_, err = io.WriteString(conn, prefix)
			}
			return conn, err
		}
		c.Timeout = startTimeout
		return c, tr
	}
	for _, http2 := range []bool{false, true} {
		for _, tt := range []struct {
			name, from, prefix string
			status             int
		}{
			{"PROXY header from the trusted peer", "127.0.0.2", header, http.StatusOK},
			{"no header", "127.0.0.1", "", http.StatusForbidden},
		} {
			c, tr := client(tt.from, tt.prefix, http2)
			resp, _ := get(t, c, "https://a.test/x")
			tr.CloseIdleConnections() // frees the only connection slot
			if resp.StatusCode != tt.status || (resp.ProtoMajor == 2) != http2 {
				t.Errorf("%s (HTTP/2 %v): %d HTTP/%d, want %d", tt.name, http2, resp.StatusCode, resp.ProtoMajor, tt.status)
			}
		}
	}
	// The origin is told the PROXY source as the client.
	if got := o.from("198.51.100.7"); len(got) == 0 {
		t.Error("origin saw no request with X-Forwarded-For 198.51.100.7")
	}

	// max_connections: 1. While a connection in the middle of its request
	// (an upload whose body has not come) is open, a second one gets no handshake; once the first closes, it
	// does. (An idle keep-alive connection or a slow head would be closed
	// to make room: TestIdleConnectionsMakeRoom, TestSlowHeadsMakeRoom.)
	firstRaw := dialFrom(t, "127.0.0.2", addr)
	if _, err := io.WriteString(firstRaw, header); err != nil {
		t.Fatal(err)
	}
	first := tls.Client(firstRaw, &tls.Config{ServerName: "a.test", RootCAs: ca.pool, NextProtos: []string{"http/1.1"}})
	if _, err := io.WriteString(first, "POST /x HTTP/1.1\r\nHost: a.test\r\nContent-Length: 10\r\n\r\n"); err != nil {
		t.Fatalf("first connection: %v", err)
	}
	raw := dialFrom(t, "127.0.0.2", addr)
	if _, err := io.WriteString(raw, header); err != nil {
		t.Fatal(err)
	}
	second := tls.Client(raw, &tls.Config{ServerName: "a.test", RootCAs: ca.pool})
	handshake := make(chan error, 1)
	go func() {
		_ = second.SetDeadline(time.Now().Add(startTimeout))
		handshake <- second.Handshake()
	}()
	select {
	case err := <-handshake:
		t.Fatalf("second connection's handshake ended (%v) while the first was open (max_connections: 1)", err)
	case <-time.After(300 * time.Millisecond):
	}
	first.Close()
	if err := <-handshake; err != nil {
		t.Fatalf("second connection's handshake after the first closed: %v", err)
	}
	if got := rawGET(t, second, "", "a.test", "/y"); got != http.StatusOK {
		t.Errorf("second connection after the first closed: %d, want 200", got)
	}
}

// TestHalfClosedClientAnsweredByNode: a client that half-closes its side
// after a request that waits on the origin (nc -N; over TLS a
// close_notify, tls.Conn.CloseWrite) gets the origin's answer from a
// node's plain listener (fastserve) and from its HTTPS listener's HTTP/1.1
// (net/http behind strictconn), GET and POST alike. Before, the end of
// stream cancelled the request and the client got nothing.
func TestHalfClosedClientAnsweredByNode(t *testing.T) {
	asked := make(chan string, 8)
	release := make(chan struct{})
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		asked <- r.URL.Path
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "the real answer")
	}))
	t.Cleanup(o.Close)
	h := startH2Node(t, originYAML(o.URL), "")
	n := 0
	for _, kind := range framingListeners() {
		for _, method := range []string{"GET", "POST"} {
			n++
			path := fmt.Sprintf("/halfclosed%d", n)
			conn := kind.dial(t, h, "127.0.0.1")
			_ = conn.SetDeadline(time.Now().Add(startTimeout))
			raw := method + " " + path + " HTTP/1.1\r\nHost: h2.test\r\n\r\n"
			if method == "POST" {
				raw = method + " " + path + " HTTP/1.1\r\nHost: h2.test\r\nContent-Length: 2\r\n\r\nhi"
			}
			if _, err := io.WriteString(conn, raw); err != nil {
				t.Fatal(err)
			}
			select {
			case <-asked:
			case <-time.After(startTimeout):
				t.Fatalf("%s %s: the origin was never asked", kind.name, method)
			}
			if err := conn.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
				t.Fatalf("%s: half-close: %v", kind.name, err)
			}
			time.Sleep(50 * time.Millisecond) // the end of stream is read while the request waits
			select {
			case release <- struct{}{}:
			case <-time.After(2 * time.Second): // the request was cancelled upstream
			}
			got, err := io.ReadAll(conn)
			if !strings.HasPrefix(string(got), "HTTP/1.1 200 OK\r\n") || !strings.HasSuffix(string(got), "the real answer") {
				t.Errorf("%s %s: a client that half-closed got %q (%v), want the origin's answer", kind.name, method, got, err)
			}
		}
	}
}
