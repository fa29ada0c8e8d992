package origin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// scriptedServer answers the requests of each connection it accepts with
// answer(conn number, request number on that connection, method),
// written verbatim; an answer ending in "\x00close" closes the connection
// after it. It counts the connections it accepted.
func scriptedServer(tb testing.TB, answer func(conn, req int, method string) string) (url string, conns *atomic.Int64) {
	tb.Helper()
	conns = new(atomic.Int64)
	ln := serveTCP(tb, 10*time.Second, func(c net.Conn) {
		n := int(conns.Add(1))
		br := bufio.NewReader(c)
		for i := 1; ; i++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			out, closeAfter := strings.CutSuffix(answer(n, i, req.Method), "\x00close")
			if _, err := io.WriteString(c, out); err != nil || closeAfter {
				return
			}
		}
	})
	return "http://" + ln.Addr().String(), conns
}

const (
	keptOK = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	// What an upstream sends unasked on an idle connection: an answer
	// out of turn, or what servers send when they time one out.
	unaskedResponse = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil"
	idleTimeout408  = "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
)

// idleServers returns how many servers have idle connections in k.
func idleServers(k *keepAlive) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.idle)
}

// keptClient returns a client of one origin server whose plain-HTTP GETs
// go through the keep-alive pool.
func keptClient(tb testing.TB, url string) *Client {
	tb.Helper()
	c := newTestClient(tb, Options{Origin: url, HeaderTimeout: 5 * time.Second})
	if c.pool.tr.kept == nil {
		tb.Skip("no keep-alive pool on this platform (no raw sockets)")
	}
	return c
}

func mustGet(tb testing.TB, c *Client, uri string) string {
	tb.Helper()
	_, body, err := get(tb, c, "k", uri)
	if err != nil {
		tb.Fatalf("GET %s: %v", uri, err)
	}
	return body
}

func TestKeptConnectionReused(t *testing.T) {
	url, conns := scriptedServer(t, func(_, _ int, method string) string {
		if method == http.MethodHead {
			return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
		}
		return keptOK
	})
	c := keptClient(t, url)
	for i := range 10 {
		if body := mustGet(t, c, fmt.Sprintf("/%d", i)); body != "ok" {
			t.Fatalf("body %q", body)
		}
	}
	resp, err := c.Do(context.Background(), &Outbound{Method: "HEAD", RequestURI: "/h", Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close() // a HEAD answer has no body: the connection goes back at once
	mustGet(t, c, "/after-head")
	if got := conns.Load(); got != 1 {
		t.Errorf("12 sequential requests opened %d connections, want 1", got)
	}
}

// An upstream that closes an idle keep-alive connection (its keep-alive
// timeout) is not a failure: the request is sent again on a new one, as
// net/http's transport does (RFC 9112 §9.3.1: a client may retry an
// idempotent request whose connection closed before the response).
func TestKeptClosedIdleRetried(t *testing.T) {
	url, conns := scriptedServer(t, func(int, int, string) string { return keptOK + "\x00close" })
	c := keptClient(t, url)
	for i := range 3 {
		if body := mustGet(t, c, fmt.Sprintf("/%d", i)); body != "ok" {
			t.Fatalf("request %d: body %q", i, body)
		}
	}
	if got := conns.Load(); got != 3 {
		t.Errorf("opened %d connections, want 3 (one per request)", got)
	}
}

// A 408 an upstream sends on an idle connection it times out is what
// servers do (net/http's own server does): the connection is dropped
// quietly and the server is not quarantined, unlike a server that sends
// an answer nobody asked for.
func TestKeptIdle408NotHeldAgainstServer(t *testing.T) {
	testKeptIdleBytes(t, idleTimeout408, false)
}

// Bytes an upstream sends on an idle connection that no request asked
// for are found before the next request is written on it, without a
// read loop: the connection is discarded, the server quarantined, and the
// request answered by a new connection, never by those bytes.
func TestKeptUnaskedBytesNeverAnswer(t *testing.T) {
	testKeptIdleBytes(t, unaskedResponse, true)
}

// testKeptIdleBytes has the upstream send unasked on the first connection,
// once it is idle in the pool, and checks that the next requests are
// answered by the upstream, and whether the server was quarantined.
func testKeptIdleBytes(t *testing.T, unasked string, quarantine bool) {
	idle := make(chan struct{})
	var conns atomic.Int64
	ln := serveTCP(t, 10*time.Second, func(c net.Conn) {
		first := conns.Add(1) == 1
		br := bufio.NewReader(c)
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood")
			if first {
				<-idle
				io.WriteString(c, unasked)
			}
		}
	})
	c := keptClient(t, "http://"+ln.Addr().String())
	// This is about the next request's first write finding the bytes:
	// the idle sweep must not find them first (TestKeptIdleUnaskedBytesSwept).
	c.pool.tr.kept.sweepEvery = time.Hour
	mustGet(t, c, "/first")
	close(idle)
	up := c.pool.servers[0]
	waitFor(t, "the unasked bytes to arrive", func() bool {
		kc, _ := up.tr.kept.take(up.addr)
		if kc == nil {
			t.Fatal("the first connection was not kept")
		}
		_, ok := kc.uc.raw.pending(nil)
		up.tr.kept.put(up.addr, kc)
		return ok
	})
	for i := range 3 {
		if body := mustGet(t, c, fmt.Sprintf("/next%d", i)); body != "good" {
			t.Fatalf("request %d answered with %q", i, body)
		}
	}
	if got := up.tr.guard.quarantined(up.addr); got != quarantine {
		t.Errorf("server quarantined: %v, want %v", got, quarantine)
	}
}

// A body closed before its end takes its connection with it: the rest
// of the body would be read as the next response.
func TestKeptBodyClosedEarlyNotReused(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	url, conns := scriptedServer(t, func(conn, req int, _ string) string {
		return "HTTP/1.1 200 OK\r\nContent-Length: " + fmt.Sprint(len(long)) + "\r\n\r\n" + long
	})
	c := keptClient(t, url)
	resp, err := c.Do(context.Background(), &Outbound{RequestURI: "/big", Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if body := mustGet(t, c, "/again"); body != long {
		t.Fatalf("second response: %d bytes, want %d", len(body), len(long))
	}
	if got := conns.Load(); got != 2 {
		t.Errorf("opened %d connections, want 2", got)
	}
}

// "Connection: close" in a response ends its connection (RFC 9112 §9.6),
// and the field it named is not passed on.
func TestKeptConnectionCloseHonoured(t *testing.T) {
	url, conns := scriptedServer(t, func(conn, req int, _ string) string {
		return "HTTP/1.1 200 OK\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\nContent-Length: 2\r\n\r\nok"
	})
	c := keptClient(t, url)
	for range 2 {
		resp, body, err := get(t, c, "k", "/")
		if err != nil || body != "ok" {
			t.Fatalf("got %q, %v", body, err)
		}
		if resp.Header.Get("X-Hop") != "" {
			t.Error("a field Connection named was passed on")
		}
	}
	if got := conns.Load(); got != 2 {
		t.Errorf("opened %d connections, want 2", got)
	}
}

// Interim responses reach the trace, as with net/http's transport; an
// endless stream of them does not hold the request forever.
func TestKeptInterimResponses(t *testing.T) {
	hints := "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
	url, _ := scriptedServer(t, func(conn, req int, _ string) string {
		if req == 1 {
			return hints + hints + keptOK
		}
		return strings.Repeat(hints, maxInterimResponses+1) + keptOK
	})
	c := keptClient(t, url)
	var got []textproto.MIMEHeader
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			got = append(got, h)
			return nil
		},
	})
	resp, err := c.Do(ctx, &Outbound{RequestURI: "/", Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close() // back to the pool: the next request is the connection's second
	if len(got) != 2 || got[0].Get("Link") != "</a.css>; rel=preload" {
		t.Fatalf("interim responses seen: %v, want two with their Link", got)
	}
	if resp, err = c.Do(ctx, &Outbound{RequestURI: "/", Key: "k"}); err == nil {
		resp.Body.Close()
	}
	wantErrIs(t, err, ErrProtocol)
}

// Cancelling the caller's context ends a body read that waits on the
// upstream at once, and the connection is not reused.
func TestKeptCancelDuringBody(t *testing.T) {
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	url, conns := scriptedServer(t, func(conn, req int, _ string) string {
		if conn == 1 {
			return "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\npart"
		}
		return keptOK
	})
	c := keptClient(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := c.Do(ctx, &Outbound{RequestURI: "/", Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	read := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(resp.Body)
		read <- err
	}()
	cancel()
	select {
	case err := <-read:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("read error %v, want one wrapping context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelling did not end the body read")
	}
	resp.Body.Close()
	mustGet(t, c, "/next")
	if got := conns.Load(); got != 2 {
		t.Errorf("opened %d connections, want 2", got)
	}
}

// An idle connection is closed once it has idled for idleFor, on its own
// timer: a forward proxy's connections to servers never asked again are
// closed too.
func TestKeptIdleExpires(t *testing.T) {
	closed := make(chan struct{})
	ln := serveTCP(t, 10*time.Second, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			if _, err := http.ReadRequest(br); err != nil {
				close(closed) // the client closed the connection
				return
			}
			io.WriteString(c, keptOK)
		}
	})
	c := keptClient(t, "http://"+ln.Addr().String())
	k := c.pool.tr.kept
	k.idleFor = 50 * time.Millisecond
	mustGet(t, c, "/")
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the idle connection was not closed")
	}
	if n := idleServers(k); n != 0 {
		t.Errorf("%d servers still have idle connections, want none", n)
	}
}

// A request net/http would refuse to write is refused before a connection
// is taken: the idle one stays for the next request.
func TestKeptInvalidRequestKeepsConnections(t *testing.T) {
	url, conns := scriptedServer(t, func(int, int, string) string { return keptOK })
	c := keptClient(t, url)
	mustGet(t, c, "/")
	for _, out := range []*Outbound{
		{RequestURI: "/", Key: "k", Header: http.Header{"X-Bad": {"a\r\nInjected: 1"}}},
		{RequestURI: "/", Key: "k", Header: http.Header{"Bad Name": {"1"}}},
		{RequestURI: "/", Key: "k", Host: "bad host/"},
	} {
		if resp, err := c.Do(context.Background(), out); err == nil {
			resp.Body.Close()
			t.Errorf("%+v was sent", out)
		}
	}
	mustGet(t, c, "/")
	if got := conns.Load(); got != 1 {
		t.Errorf("opened %d connections, want 1", got)
	}
}

// Response heads are limited as net/http's transport limits them
// (MaxResponseHeaderBytes: 1 MiB, the interim heads included when no
// trace looks at them): a larger head is refused, never served, and its
// connection is not reused. upConn's own bound on the heads it holds
// back is looser, and http.ReadResponse has none.
func TestKeptResponseHeadLimit(t *testing.T) {
	hint := "HTTP/1.1 103 Early Hints\r\nLink: <" + strings.Repeat("a", 60<<10) + ">\r\n\r\n"
	for _, tc := range []struct {
		name, head string
		ok         bool
	}{
		{"just under", "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", maxResponseHead-200) + "\r\nContent-Length: 2\r\n\r\n", true},
		{"over", "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", maxResponseHead+10<<10) + "\r\nContent-Length: 2\r\n\r\n", false},
		{"interim heads over together", strings.Repeat(hint, 20) + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, conns := scriptedServer(t, func(conn, req int, _ string) string {
				if conn == 1 && req == 1 {
					return tc.head + "ok"
				}
				return keptOK
			})
			c := keptClient(t, url)
			_, body, err := get(t, c, "k", "/big")
			switch {
			case tc.ok && (err != nil || body != "ok"):
				t.Fatalf("got %q, %v; want ok", body, err)
			case !tc.ok:
				wantErrIs(t, err, ErrProtocol)
			}
			if body := mustGet(t, c, "/next"); body != "ok" {
				t.Fatalf("next request answered %q", body)
			}
			if want := map[bool]int64{true: 1, false: 2}[tc.ok]; conns.Load() != want {
				t.Errorf("opened %d connections, want %d", conns.Load(), want)
			}
		})
	}
}

// Bytes an upstream sends unasked on an idle connection get it discarded
// and the server quarantined without waiting for a request to take the
// connection (sweepIdle), as net/http's read loop does: a server that
// answered out of turn gets single-use connections from then on, though
// the connection that showed it might have sat idle until it expired.
// An idle-timeout 408 closes the connection, and is not held against the
// server.
func TestKeptIdleUnaskedBytesSwept(t *testing.T) {
	for _, tc := range []struct {
		name, unasked string
		quarantine    bool
	}{
		{"response", unaskedResponse, true},
		{"408", idleTimeout408, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			idle := make(chan struct{})
			closed := make(chan struct{})
			ln := serveTCP(t, 10*time.Second, func(c net.Conn) {
				br := bufio.NewReader(c)
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				io.WriteString(c, keptOK)
				<-idle
				io.WriteString(c, tc.unasked)
				// The client closed the connection: an EOF, or a reset
				// when it closed it with the bytes unread.
				if _, err := br.ReadByte(); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
					close(closed)
				}
			})
			c := keptClient(t, "http://"+ln.Addr().String())
			k := c.pool.tr.kept
			k.sweepEvery = 10 * time.Millisecond
			mustGet(t, c, "/")
			close(idle)
			select {
			case <-closed:
			case <-time.After(5 * time.Second):
				t.Fatal("the idle connection that received unasked bytes was not closed")
			}
			up := c.pool.servers[0]
			if got := up.tr.guard.quarantined(up.addr); got != tc.quarantine {
				t.Errorf("server quarantined: %v, want %v", got, tc.quarantine)
			}
			if n := idleServers(k); n != 0 {
				t.Errorf("%d servers still have idle connections, want none", n)
			}
		})
	}
}

// A 101 (Switching Protocols) to a request that asked for no upgrade is a
// protocol error (RFC 9110 §15.2.2), on either pool: net/http's handed
// the switched connection over as the body, read until the upstream
// closed it.
func TestUnaskedSwitchingProtocolsRefused(t *testing.T) {
	stop := make(chan struct{})
	ln := serveTCP(t, 10*time.Second, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: other\r\n\r\nother protocol")
		select {
		case <-stop:
		case <-time.After(10 * time.Second):
		}
	})
	t.Cleanup(func() { close(stop) })
	c := keptClient(t, "http://"+ln.Addr().String())
	for _, method := range []string{"GET", "OPTIONS"} { // the keep-alive pool, net/http's
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := c.Do(ctx, &Outbound{Method: method, RequestURI: "/", Key: "k"})
		cancel()
		if err == nil {
			resp.Body.Close()
			t.Fatalf("%s: a 101 nobody asked for was passed on", method)
		}
		wantErrIs(t, err, ErrProtocol)
	}
}

// TestKeptBodyStallNotReused: a kept connection whose body stalls past
// BodyTimeout is ended by the body itself (keptBody.cancel, with no
// context of the exchange's own to cancel): the read fails with
// ErrTimeout at once, and the connection, cut mid-body, carries nothing
// more; the next request opens another.
func TestKeptBodyStallNotReused(t *testing.T) {
	url, conns := scriptedServer(t, func(conn, req int, _ string) string {
		if conn == 1 {
			return "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\npart"
		}
		return keptOK
	})
	c := newTestClient(t, Options{Origin: url, HeaderTimeout: 5 * time.Second, BodyTimeout: 50 * time.Millisecond})
	if c.pool.tr.kept == nil {
		t.Skip("no keep-alive pool on this platform (no raw sockets)")
	}
	resp, err := c.Do(context.Background(), &Outbound{RequestURI: "/", Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := resp.Body.(*idleBody).body.(*keptBody); !ok {
		t.Fatalf("body %T, want the keep-alive pool's", resp.Body.(*idleBody).body)
	}
	start := time.Now()
	body, err := io.ReadAll(resp.Body)
	// The server holds the connection for 10 seconds: a read that ends
	// long before was ended by the timeout, not by the server.
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("the stalled read ended after %v; BodyTimeout is 50ms", waited)
	}
	wantErrIs(t, err, ErrTimeout)
	if string(body) != "part" {
		t.Errorf("body before the stall = %q, want part", body)
	}
	resp.Body.Close()
	if got := mustGet(t, c, "/next"); got != "ok" {
		t.Errorf("next answer %q, want ok", got)
	}
	if got := conns.Load(); got != 2 {
		t.Errorf("opened %d connections, want 2", got)
	}
}
