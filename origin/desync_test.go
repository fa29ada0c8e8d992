package origin

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// scriptOrigin is a raw HTTP/1.1 origin on 127.0.0.1 (optionally TLS): it
// reads requests with net/http and answers each with the parts answer
// returns for its method and path. All parts of an answer reach the wire in
// one TCP write; over TLS each part is a record of its own.
type scriptOrigin struct {
	url   string
	roots *x509.CertPool // TLS only
	conns atomic.Int64   // connections accepted
}

func newScriptOrigin(tb testing.TB, useTLS bool, answer func(method, path string) []string) *scriptOrigin {
	tb.Helper()
	o := &scriptOrigin{}
	var serverTLS *tls.Config
	var roots *x509.CertPool
	if useTLS {
		var cert tls.Certificate
		cert, roots = testCertificate(tb)
		serverTLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	ln := serveTCP(tb, 20*time.Second, func(conn net.Conn) {
		o.conns.Add(1)
		held := &holdConn{Conn: conn}
		var rw io.ReadWriter = held
		if serverTLS != nil {
			rw = tls.Server(held, serverTLS) // its records go through held
		}
		br := bufio.NewReader(rw)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			held.hold()
			for _, part := range answer(req.Method, req.URL.Path) {
				io.WriteString(rw, part)
			}
			if held.flush() != nil {
				return
			}
		}
	})
	o.url = "http://" + ln.Addr().String()
	if useTLS {
		o.url, o.roots = "https://"+ln.Addr().String(), roots
	}
	return o
}

// holdConn gathers what is written between hold and flush into one write.
type holdConn struct {
	net.Conn
	holding bool
	buf     []byte
}

func (h *holdConn) hold() { h.holding = true }

func (h *holdConn) Write(p []byte) (int, error) {
	if h.holding {
		h.buf = append(h.buf, p...)
		return len(p), nil
	}
	return h.Conn.Write(p)
}

func (h *holdConn) flush() error {
	h.holding = false
	_, err := h.Conn.Write(h.buf)
	h.buf = h.buf[:0]
	return err
}

// client returns a Client for the origin (trusting its certificate).
func (o *scriptOrigin) client(tb testing.TB, opts Options) *Client {
	opts.Origin = o.url
	if o.roots != nil {
		// Resumed sessions keep the many handshakes of the race tests cheap.
		opts.TLSClientConfig = &tls.Config{RootCAs: o.roots, ClientSessionCache: tls.NewLRUClientSessionCache(16)}
	}
	return newTestClient(tb, opts)
}

// testCertificate returns the certificate of net/http/httptest's TLS
// servers (for 127.0.0.1) and a pool that trusts it.
func testCertificate(tb testing.TB) (tls.Certificate, *x509.CertPool) {
	tb.Helper()
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	return srv.TLS.Certificates[0], roots
}

// fetch sends one request through c and returns the status and body, or
// the error from Do or from reading the body.
func fetch(c *Client, method, path string) (int, string, error) {
	resp, err := c.Do(context.Background(), &Outbound{Method: method, Host: "site.example", RequestURI: path, Key: path})
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

const (
	okResponse   = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	evilResponse = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nCache-Control: max-age=600\r\n\r\nevil"
	goodResponse = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood"
)

// TestDesyncRace reproduces the window net/http's transport leaves open:
// it returns a connection to the idle pool when a body ends and only later
// peeks for unsolicited bytes, so a request that takes the connection in
// between reads them as its own response. The origin answers /first with a
// response followed by a second one, sent together (over TLS in the same
// record, or in a record of its own, which tls.Conn keeps until its next
// read); other paths are answered "good". Many clients share one
// connection, so it changes hands at the instant a body ends.
// Nobody may ever be answered "evil". Without upConn this fails within a
// few hundred requests. (A second response the origin writes separately
// may leave it after the next request was written: no client can tell
// that apart from an answer, so it is not tested here.)
func TestDesyncRace(t *testing.T) {
	for _, tt := range []struct {
		name   string
		tls    bool
		answer []string
	}{
		{"plain", false, []string{okResponse + evilResponse}},
		{"TLS, one record", true, []string{okResponse + evilResponse}},
		{"TLS, two records", true, []string{okResponse, evilResponse}},
	} {
		rounds := 300
		if tt.tls {
			rounds = 100 // handshakes are slow under -race
		}
		t.Run(tt.name, func(t *testing.T) {
			o := newScriptOrigin(t, tt.tls, func(_, path string) []string {
				if path != "/first" {
					return []string{goodResponse}
				}
				return tt.answer
			})
			c := o.client(t, Options{MaxConnsPerHost: 1})
			var evil, otherErrs atomic.Int64
			var wg sync.WaitGroup
			const workers = 8
			for w := range workers {
				wg.Go(func() {
					for i := range rounds {
						path := "/other"
						if (w+i)%2 == 0 {
							path = "/first"
						}
						_, body, err := fetch(c, http.MethodGet, path)
						switch {
						case body == "evil":
							evil.Add(1)
						case err != nil && path == "/other":
							otherErrs.Add(1)
							t.Logf("%s: %v", path, err)
						case err == nil && path == "/other" && body != "good":
							t.Errorf("%s answered %q", path, body)
						}
					}
				})
			}
			wg.Wait()
			if n := evil.Load(); n > 0 {
				t.Errorf("the injected response was served %d times", n)
			}
			if n := otherErrs.Load(); n > 0 {
				t.Errorf("%d requests for /other failed: a request that took a discarded connection must be retried", n)
			}
			t.Logf("%d connections for %d requests", o.conns.Load(), workers*rounds)
		})
	}
}

// TestDesyncRefused: bytes that follow a response in the read that ended
// it are never read as the answer to a later request; the connection is
// discarded, and the server quarantined: the next requests go out on new
// connections, one each, and get the origin's real answers. When the
// bytes start another response the two may be out of turn, and the
// response is refused (ErrProtocol: the edge answers 502 and stores
// nothing); it may also be the shape an attacker gave it (response
// splitting). Other bytes are an overrun: the response is served as RFC
// 9112 §6.3 frames it (by Content-Length, or without a body after HEAD,
// 204 and 304).
func TestDesyncRefused(t *testing.T) {
	for _, tt := range []struct {
		name, method, first string
		served              string // the body served; "" means refused
	}{
		{"second response", "GET", okResponse + evilResponse, ""},
		{"second response after a blank line", "GET", okResponse + "\r\n" + evilResponse, ""},
		{"CRLF in a field value splits the response", "GET", "HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n" +
			evilResponse + "\r\nContent-Length: 2\r\n\r\nok", ""},
		{"chunked body then a response", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n" + evilResponse, ""},
		{"junk after a Content-Length body", "GET", okResponse + "junk", "ok"},
		{"chunked body then junk", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\njunk", "ok"},
		{"interim response, final, then junk", "GET", "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n" + okResponse + "junk", "ok"},
		{"HEAD answered with a body", "HEAD", okResponse, "-"},
		{"204 with a body", "GET", "HTTP/1.1 204 No Content\r\nContent-Length: 4\r\n\r\nevil", "-"},
		{"304 with a body", "GET", "HTTP/1.1 304 Not Modified\r\nContent-Length: 4\r\n\r\nevil", "-"},
	} {
		for _, useTLS := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, TLS %v", tt.name, useTLS), func(t *testing.T) {
				o := newScriptOrigin(t, useTLS, func(_, path string) []string {
					if path == "/first" {
						return []string{tt.first}
					}
					return []string{goodResponse}
				})
				c := o.client(t, Options{})
				status, body, err := fetch(c, tt.method, "/first")
				switch {
				case tt.served == "" && (!errors.Is(err, ErrProtocol) || !errors.Is(err, errDesync)):
					t.Errorf("first: status %d body %q err %v; want an ErrProtocol (out of sync)", status, body, err)
				case tt.served != "" && (err != nil || body != strings.TrimPrefix(tt.served, "-")):
					t.Errorf("first: status %d body %q err %v; want it served as framed", status, body, err)
				}
				for i := range 3 {
					if _, body, err := fetch(c, "GET", "/next"); err != nil || body != "good" {
						t.Errorf("next %d: body %q err %v; want good", i, body, err)
					}
				}
				if n := o.conns.Load(); n != 4 {
					t.Errorf("origin accepted %d connections, want 4: one each (the server is quarantined)", n)
				}
			})
		}
	}
}

// TestUpConnUnasked drives one upConn the way the transport does, over a
// real loopback connection (plain and TLS): after a complete response the
// origin sends bytes nobody asked for. A read (the transport's idle peek)
// must fail rather than return them, and so must the next request's first
// write when they arrived before it while no read was under way (the
// transport's read loop between a body's end and its next peek): that
// write would otherwise make them look like its request's answer.
func TestUpConnUnasked(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		for _, first := range []string{"read", "write"} {
			t.Run(fmt.Sprintf("TLS %v, %s first", useTLS, first), func(t *testing.T) {
				c, srv := upConnPair(t, useTLS)
				reading := startRead(c) // the transport's read loop waits on every connection
				writeRequest(t, c, "GET")
				srv.send(okResponse)
				readResponse(t, c, reading, okResponse)
				if first == "read" {
					reading = startRead(c)
				}
				srv.send("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil")
				if first == "read" {
					if r := <-reading; r.n != 0 || !errors.Is(r.err, errDesync) {
						t.Fatalf("read: %q, %v; want nothing and an out-of-sync error", r.b, r.err)
					}
				} else {
					waitFor(t, "the unasked bytes to arrive", func() bool { _, ok := c.raw.pending(nil); return ok })
				}
				wrote := make(chan error, 1)
				go func() {
					expectResponse(c, "GET", false)
					_, err := c.Write([]byte("GET /next HTTP/1.1\r\nHost: h\r\n\r\n"))
					wrote <- err
				}()
				if first == "write" && useTLS {
					// What tls.Conn received can only be judged once it
					// has processed it (a session ticket would pass): the
					// write waits for the read loop to come back, and the
					// read starts once it does.
					waitFor(t, "the write to wait for a read", func() bool {
						c.mu.Lock()
						defer c.mu.Unlock()
						return c.waiters > 0
					})
					if r := <-startRead(c); r.n != 0 || !errors.Is(r.err, errDesync) {
						t.Errorf("read: %q, %v; want nothing and an out-of-sync error", r.b, r.err)
					}
				}
				if err := <-wrote; !errors.Is(err, errDesync) {
					t.Errorf("next request's write: %v; want an out-of-sync error", err)
				}
			})
		}
	}
}

// TestUpConnRefusesUnframedReuse: a connection whose last response the
// framer has not seen end (net/http would have to be wrong about it), or
// could not follow, refuses the next request's first write, so the
// transport takes another connection rather than risk a desync.
func TestUpConnRefusesUnframedReuse(t *testing.T) {
	for _, tt := range []struct{ name, response, read string }{
		{"body not finished", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"},
		{"read until close", "HTTP/1.1 200 OK\r\n\r\nbody", "HTTP/1.1 200 OK\r\n\r\nbody"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, srv := upConnPair(t, false)
			reading := startRead(c)
			writeRequest(t, c, "GET")
			srv.send(tt.response)
			readResponse(t, c, reading, tt.read)
			expectResponse(c, "GET", false)
			if _, err := c.Write([]byte("GET /next HTTP/1.1\r\nHost: h\r\n\r\n")); !errors.Is(err, errDesync) {
				t.Errorf("next request's write: %v; want an out-of-sync error", err)
			}
		})
	}
}

// readResult is what one Read of an upConn returned.
type readResult struct {
	n   int
	b   []byte
	err error
}

// startRead reads c in the background, as the transport's read loop peeks.
func startRead(c *upConn) <-chan readResult {
	ch := make(chan readResult, 1)
	go func() {
		b := make([]byte, 4096)
		n, err := c.Read(b)
		ch <- readResult{n, b[:n], err}
	}()
	return ch
}

// testServerSide is the origin end of upConnPair.
type testServerSide struct {
	conn net.Conn
	br   *bufio.Reader
}

func (s *testServerSide) send(b string) {
	s.conn.Write([]byte(b))
}

// upConnPair connects an upConn, as newTransport's dialer makes it, to a
// loopback server end that the test writes to.
func upConnPair(t *testing.T, useTLS bool) (*upConn, *testServerSide) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := &dialer{connect: 2 * time.Second, log: slog.New(slog.DiscardHandler), guard: newReuseGuard(nil)}
	cert, roots := testCertificate(t)
	d.tls = &tls.Config{RootCAs: roots}
	accepted := make(chan net.Conn, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		if useTLS {
			tc := tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{cert}})
			if tc.Handshake() != nil {
				close(accepted)
				return
			}
			conn = tc
		}
		accepted <- conn
	}()
	dial := d.dial
	if useTLS {
		dial = d.dialTLS
	}
	nc, err := dial(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server := <-accepted
	if server == nil {
		t.Fatal("server side failed")
	}
	t.Cleanup(func() { nc.Close(); server.Close() })
	return nc.(*upConn), &testServerSide{conn: server, br: bufio.NewReader(server)}
}

// writeRequest writes a request on c as the transport would.
func writeRequest(t *testing.T, c *upConn, method string) {
	t.Helper()
	expectResponse(c, method, false)
	if _, err := c.Write([]byte(method + " / HTTP/1.1\r\nHost: h\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
}

// readResponse collects want from the read under way, then reads c for
// the rest, and checks it.
func readResponse(t *testing.T, c *upConn, reading <-chan readResult, want string) {
	t.Helper()
	r := <-reading
	if r.err != nil {
		t.Fatalf("read: %v", r.err)
	}
	got := append([]byte(nil), r.b...)
	if len(got) < len(want) {
		rest := make([]byte, len(want)-len(got))
		if _, err := io.ReadFull(c, rest); err != nil {
			t.Fatalf("read: %v", err)
		}
		got = append(got, rest...)
	}
	if string(got) != want {
		t.Fatalf("read %q, want %q", got, want)
	}
}

// TestUpstreamTLSReuse: an https origin is reached through one connection
// for many requests, although Go's TLS 1.3 server sends session tickets
// after the handshake (bytes no request asked for, which tls.Conn consumes).
func TestUpstreamTLSReuse(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "secure "+r.URL.Path)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	c := newTestClient(t, Options{Origin: srv.URL, TLSClientConfig: &tls.Config{RootCAs: roots}})
	for i := range 20 {
		path := fmt.Sprintf("/%d", i)
		if _, body, err := fetch(c, "GET", path); err != nil || body != "secure "+path {
			t.Fatalf("request %d: %q %v", i, body, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 20 sequential requests, want 1", n)
	}
}
