package origin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// smuggledGET is a request hidden in a POST body: an origin that ignores
// the body of the POST (a CL.0 desync) reads it as the next request.
const smuggledGET = "GET /evil HTTP/1.1\r\nHost: site.example\r\n\r\n"

// blindOrigin is a raw HTTP/1.1 origin on 127.0.0.1 that reads request
// heads only, ignoring Content-Length and Connection (the CL.0 desync of a
// real origin endpoint that does not read bodies), and answers them in
// order. For /evil, the response to the smuggled request, it waits until
// the next request's bytes arrive on the connection before answering: the
// slow endpoint that makes the smuggled response land after the next
// request was written, which no HTTP/1.1 client can tell from that
// request's answer. lateJunk, when set, does the same after every answer
// to /a: a response nobody asked for, sent once the next request arrived.
type blindOrigin struct {
	url   string
	conns atomic.Int64
	evils atomic.Int64  // smuggled responses written
	ended chan struct{} // receives when a connection ends
}

func newBlindOrigin(tb testing.TB, lateJunk bool) *blindOrigin {
	tb.Helper()
	o := &blindOrigin{ended: make(chan struct{}, 100)}
	ln := serveTCP(tb, 20*time.Second, func(conn net.Conn) {
		o.conns.Add(1)
		defer func() {
			select {
			case o.ended <- struct{}{}:
			default:
			}
		}()
		br := bufio.NewReader(conn)
		for {
			path, ok := readHeadOnly(br)
			if !ok {
				return
			}
			junkAfter := path == "/evil" || lateJunk && path == "/a"
			if path != "/evil" {
				body := "good"
				if path == "/a" || path == "/submit" {
					body = "ok"
				}
				io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\nCache-Control: max-age=60\r\n\r\n"+body)
			}
			if !junkAfter {
				continue
			}
			if _, err := br.Peek(1); err != nil {
				return // the client closed the connection: nothing to land on
			}
			o.evils.Add(1)
			io.WriteString(conn, evilResponse)
			// The next request's answer follows apart, as a slow one
			// would: after more bytes or a pause, whichever comes first.
			conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			br.Peek(br.Buffered() + 1)
			conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		}
	})
	o.url = "http://" + ln.Addr().String()
	return o
}

// readHeadOnly reads a request head and returns its path, ignoring any
// body.
func readHeadOnly(br *bufio.Reader) (string, bool) {
	line, err := br.ReadString('\n')
	if err != nil {
		return "", false
	}
	fields := strings.Fields(line)
	if len(fields) < 2 {
		return "", false
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return "", false
		}
		if l == "\r\n" || l == "\n" {
			break
		}
	}
	path, _, _ := strings.Cut(fields[1], "?")
	return path, true
}

// post sends a POST with body through c and returns status and body.
func post(c *Client, path, body string) (int, string, error) {
	resp, err := c.Do(context.Background(), &Outbound{Method: http.MethodPost, Host: "site.example", RequestURI: path,
		Key: path, Body: strings.NewReader(body), ContentLength: int64(len(body))})
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestSmuggledBodyNeverAnswersAnother reproduces response-queue poisoning
// through a CL.0 desync at the origin: a client POSTs a body that is
// itself a request to an endpoint that ignores bodies; the origin answers
// the POST, then the smuggled request, late. On a connection reused after
// the POST that answer is read as the next client's. No request may ever
// be answered with it: a connection that carried a request body is never
// reused.
func TestSmuggledBodyNeverAnswersAnother(t *testing.T) {
	o := newBlindOrigin(t, false)
	c := newTestClient(t, Options{Origin: o.url, MaxConnsPerHost: 1})
	for round := range 5 {
		if status, body, err := post(c, "/submit", smuggledGET); err != nil || status != http.StatusOK || body != "ok" {
			t.Fatalf("round %d: POST: %d %q %v", round, status, body, err)
		}
		for i := range 3 {
			path := "/home" + strconv.Itoa(i)
			_, body, err := fetch(c, http.MethodGet, path)
			if body == "evil" {
				t.Fatalf("round %d: GET %s was answered with the smuggled response", round, path)
			}
			if err != nil || body != "good" {
				t.Errorf("round %d: GET %s: %q %v", round, path, body, err)
			}
		}
	}
}

// TestLateResponseQuarantinesServer: an origin that sends a response
// nobody asked for after its answer to /a, once the next request has been
// written on the connection, gets it read as that request's answer: no
// HTTP/1.1 client can tell the two apart, so the first victim is answered
// with it. The victim's real answer follows; when it arrives while no
// request is waiting, the connection is discarded and the server
// quarantined: every later request gets a connection of its own, and none
// is answered out of turn. Without the quarantine every round's victim got
// the injected response.
func TestLateResponseQuarantinesServer(t *testing.T) {
	o := newBlindOrigin(t, true)
	c := newTestClient(t, Options{Origin: o.url, MaxConnsPerHost: 1})
	for round := range 6 {
		for _, path := range []string{"/a", "/v"} {
			_, body, _ := fetch(c, http.MethodGet, path)
			if body == "evil" && round > 0 {
				t.Errorf("round %d: %s answered with the injected response", round, path)
			}
		}
		if round == 0 {
			// The first victim's real answer comes after a pause; the
			// connection it lands on is discarded.
			select {
			case <-o.ended:
			case <-time.After(10 * time.Second):
				t.Fatal("the out-of-turn connection was never discarded")
			}
		}
	}
	// Quarantined: each request on a connection of its own, answered in turn.
	before := o.conns.Load()
	for i := range 3 {
		if _, body, err := fetch(c, http.MethodGet, "/v"); err != nil || body != "good" {
			t.Errorf("after quarantine %d: %q %v, want good", i, body, err)
		}
	}
	if n := o.conns.Load() - before; n != 3 {
		t.Errorf("%d connections for 3 requests to a quarantined server, want 3", n)
	}
}

// TestUpConnHidesRefusedCoding: a response head that arrives in pieces is
// handed to the transport once complete; when its Transfer-Encoding does
// not end in chunked, without its Transfer-Encoding and Content-Length
// fields, so that net/http reads the body until close (RFC 9112 §6.3 item
// 4) instead of refusing the response. Plain and TLS.
func TestUpConnHidesRefusedCoding(t *testing.T) {
	const (
		interim = "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
		head1   = "HTTP/1.1 200 OK\r\nContent-Len"
		head2   = "gth: 3\r\nX-A: 1\r\ntransfer-encoding: gzip\r\n"
		rest    = "X-B: 2\r\n\r\nbody"
		want    = "HTTP/1.1 200 OK\r\nX-A: 1\r\nX-B: 2\r\n\r\nbody"
	)
	for _, useTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("TLS %v", useTLS), func(t *testing.T) {
			c, srv := upConnPair(t, useTLS)
			reading := startRead(c)
			writeRequest(t, c, "GET")
			if _, err := http.ReadRequest(srv.br); err != nil {
				t.Fatal(err)
			}
			srv.send(interim + head1)
			readResponse(t, c, reading, interim) // at once
			reading = startRead(c)
			srv.send(head2)
			select {
			case r := <-reading:
				t.Fatalf("read returned %q, %v before the head ended", r.b, r.err)
			default:
			}
			srv.send(rest)
			readResponse(t, c, reading, want)
			srv.conn.Close()
			if n, err := c.Read(make([]byte, 10)); n != 0 || err != io.EOF {
				t.Errorf("after close: %d, %v; want EOF", n, err)
			}
		})
	}
}

// TestDiscardedConnectionsCounted: a connection discarded for bytes past a
// response's end is counted by reason, with the bytes read.
func TestDiscardedConnectionsCounted(t *testing.T) {
	o := newScriptOrigin(t, false, func(_, path string) []string {
		if path == "/over" {
			return []string{okResponse + "junk"}
		}
		return []string{okResponse + evilResponse}
	})
	reg := prometheus.NewRegistry()
	c := o.client(t, Options{Registerer: reg})
	if _, body, err := fetch(c, http.MethodGet, "/over"); err != nil || body != "ok" {
		t.Fatalf("overrun: %q %v, want ok served", body, err)
	}
	if _, _, err := fetch(c, http.MethodGet, "/second"); !errors.Is(err, ErrProtocol) {
		t.Fatalf("second response: %v, want ErrProtocol", err)
	}
	for _, tt := range []struct {
		reason string
		want   float64
	}{{discardOverrun, 1}, {discardSecondResponse, 1}, {discardUnsolicited, 0}} {
		got := counterValue(t, reg, "edged_origin_discarded_connections_total", "reason", tt.reason)
		if got != tt.want {
			t.Errorf("%s: %v, want %v", tt.reason, got, tt.want)
		}
	}
	if got, want := counterValue(t, reg, "edged_origin_discarded_bytes_total", "pool", "origin"), float64(len("junk")+len(evilResponse)); got != want {
		t.Errorf("discarded bytes: %v, want %v", got, want)
	}
}

// counterValue returns the value of the series of counter name in reg
// whose label has value; 0 when there is none.
func counterValue(tb testing.TB, reg *prometheus.Registry, name, label, value string) float64 {
	tb.Helper()
	families, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestUpConnInterimAtOnce: while response heads are held back until they
// end, an interim response is handed over as soon as its own head ends: a
// request with "Expect: 100-continue" waits for it to send its body.
func TestUpConnInterimAtOnce(t *testing.T) {
	c, srv := upConnPair(t, false)
	reading := startRead(c)
	writeRequest(t, c, "POST")
	srv.send("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 2")
	readResponse(t, c, reading, "HTTP/1.1 100 Continue\r\n\r\n")
	srv.send("00 OK\r\nContent-Length: 2\r\n\r\nok")
	readResponse(t, c, startRead(c), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
}

// TestQuarantineEnds: a server's quarantine lasts quarantineFor from its
// last offence, and covers that server only.
func TestQuarantineEnds(t *testing.T) {
	now := time.Unix(1000, 0)
	g := newReuseGuard(nil)
	g.now = func() time.Time { return now }
	g.quarantine("127.0.0.1:80")
	now = now.Add(quarantineFor / 2)
	g.quarantine("127.0.0.1:80") // a new offence starts it again
	for _, tt := range []struct {
		after time.Duration
		addr  string
		want  bool
	}{
		{0, "127.0.0.1:80", true},
		{0, "127.0.0.1:81", false},
		{quarantineFor - time.Second, "127.0.0.1:80", true},
		{quarantineFor, "127.0.0.1:80", false},
	} {
		g.now = func() time.Time { return now.Add(tt.after) }
		if got := g.quarantined(tt.addr); got != tt.want {
			t.Errorf("%v after the last offence, %s quarantined = %v, want %v", tt.after, tt.addr, got, tt.want)
		}
	}
	if n := g.counts.Load(); n != 0 {
		t.Errorf("%d quarantines left after the last ended", n)
	}
}

func TestDialAddr(t *testing.T) {
	for _, tt := range []struct{ scheme, host, want string }{
		{"http", "origin.example", "origin.example:80"},
		{"https", "origin.example", "origin.example:443"},
		{"http", "127.0.0.1:9000", "127.0.0.1:9000"},
		{"https", "[::1]", "[::1]:443"},
		{"http", "[::1]:8080", "[::1]:8080"},
	} {
		if got := dialAddr(tt.scheme, tt.host); got != tt.want {
			t.Errorf("dialAddr(%q, %q) = %q, want %q", tt.scheme, tt.host, got, tt.want)
		}
	}
}

// TestUpConnLastRequestFinishesWriting: a request that is its
// connection's last may be answered before it is fully written (an early
// response, RFC 9112 §9.5); the connection retires when that response
// ends, and the rest of the request is still written: failing those writes
// would make net/http report a write error instead of the response. The
// connection takes no other request.
func TestUpConnLastRequestFinishesWriting(t *testing.T) {
	c, srv := upConnPair(t, false)
	reading := startRead(c)
	expectResponse(c, http.MethodPost, true)
	if _, err := c.Write([]byte("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbo")); err != nil {
		t.Fatal(err)
	}
	srv.send(okResponse)
	readResponse(t, c, reading, okResponse)
	if _, err := c.Write([]byte("dy")); err != nil {
		t.Errorf("the rest of the request body: %v", err)
	}
	if r := <-startRead(c); !errors.Is(r.err, errRetired) {
		t.Errorf("read after the last response: %q, %v; want the connection retired", r.b, r.err)
	}
	expectResponse(c, http.MethodGet, false)
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: h\r\n\r\n")); !errors.Is(err, errRetired) {
		t.Errorf("another request: %v, want the connection retired", err)
	}
}

func TestSingleUse(t *testing.T) {
	for _, tt := range []struct {
		method  string
		hasBody bool
		want    bool
	}{
		{http.MethodGet, false, false},
		{http.MethodHead, false, false},
		{http.MethodOptions, false, false},
		{http.MethodTrace, false, false},
		{http.MethodGet, true, true},
		{http.MethodOptions, true, true},
		{http.MethodPost, false, true},
		{http.MethodDelete, false, true},
		{http.MethodPut, true, true},
		{"PURGE", false, true},
	} {
		if got := singleUse(tt.method, tt.hasBody); got != tt.want {
			t.Errorf("singleUse(%s, body %v) = %v, want %v", tt.method, tt.hasBody, got, tt.want)
		}
	}
}
