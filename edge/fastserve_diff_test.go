package edge

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"edged/edge/strictconn"
)

// diffOrigin serves the shapes of response the edge writes in different
// ways: a compressible page (stored with a gzip variant), a body the disk
// tier keeps in a file of its own (sent with sendfile), an interim 103
// before a cacheable answer, a body cut short mid-stream, and an
// uncacheable one.
func diffOrigin(t *testing.T, c *clock, big []byte) *testOrigin {
	page := strings.Repeat("<p>the same words compress well</p>\n", 200)
	return newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		switch r.URL.Path {
		case "/page":
			h.Set("Cache-Control", "max-age=3600")
			h.Set("Content-Type", "text/html; charset=utf-8")
			h.Set("ETag", `"p1"`)
			h.Set("Last-Modified", httpDate(c.Now().Add(-time.Hour)))
			_, _ = io.WriteString(w, page)
		case "/big":
			h.Set("Cache-Control", "max-age=3600")
			h.Set("Content-Type", "application/octet-stream")
			h.Set("ETag", `"b1"`)
			h.Set("Content-Length", strconv.Itoa(len(big)))
			_, _ = w.Write(big)
		case "/hints":
			h.Set("Link", "</style.css>; rel=preload; as=style")
			w.WriteHeader(http.StatusEarlyHints)
			h.Del("Link")
			h.Set("Cache-Control", "max-age=3600")
			h.Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "hinted")
		case "/broken":
			h.Set("Cache-Control", "max-age=3600")
			h.Set("Content-Type", "application/octet-stream")
			h.Set("Content-Length", strconv.Itoa(len(big)))
			_, _ = w.Write(big[:len(big)/3])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		case "/brokenchunked":
			h.Set("Cache-Control", "max-age=3600")
			h.Set("Content-Type", "application/octet-stream")
			_, _ = w.Write(big[:len(big)/3])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		default:
			h.Set("Cache-Control", "no-store")
			_, _ = io.WriteString(w, "private "+r.URL.RawQuery)
		}
	})
}

// describeResponses reads the responses to methods off br, one block each
// (Date left out, chunk boundaries not told apart), and what follows them.
func describeResponses(br *bufio.Reader, methods []string) string {
	var out strings.Builder
	for i := 0; i < len(methods); {
		resp, err := http.ReadResponse(br, &http.Request{Method: methods[i]})
		if err != nil {
			fmt.Fprintf(&out, "no response: %v\n", err)
			return out.String()
		}
		if resp.StatusCode >= 200 {
			i++ // an interim response comes before the one to the request
		}
		body, err := io.ReadAll(resp.Body)
		if _, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); params["boundary"] != "" {
			// A multipart body's boundary is random.
			b := params["boundary"]
			resp.Header.Set("Content-Type", strings.ReplaceAll(resp.Header.Get("Content-Type"), b, "BOUNDARY"))
			body = bytes.ReplaceAll(body, []byte(b), []byte("BOUNDARY"))
		}
		resp.Header.Del("Date")
		resp.Header.Del("X-Request-Id")
		fmt.Fprintf(&out, "%s\n", resp.Status)
		_ = resp.Header.Write(&out)
		fmt.Fprintf(&out, "length=%d te=%v close=%v\nbody=%d bytes %x err=%v\n\n",
			resp.ContentLength, resp.TransferEncoding, resp.Close, len(body), checksum31(body), err)
		if err != nil {
			return out.String()
		}
	}
	return out.String()
}

// checksum31 is a short fingerprint of a body (h = 31h + c), enough to
// tell two bodies of one length apart in a description: not a hash to
// trust with anything else.
func checksum31(b []byte) []byte {
	var sum uint32
	for _, c := range b {
		sum = sum*31 + uint32(c)
	}
	return []byte(strconv.FormatUint(uint64(sum), 16))
}

// rawMethods are the methods of the requests in raw.
func rawMethods(raw string) []string {
	var methods []string
	br := bufio.NewReader(strings.NewReader(raw))
	for {
		r, err := http.ReadRequest(br)
		if err != nil {
			return methods
		}
		methods = append(methods, r.Method)
	}
}

// sendRaw writes raw on a new connection to addr and describes the
// responses to its requests.
func sendRaw(t *testing.T, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	return describeResponses(bufio.NewReader(c), rawMethods(raw))
}

// TestFastserveMatchesNetHTTPThroughEdge: the edge's responses (hits from
// memory and from a body file, misses, HEAD, ranges, conditionals, a
// compressed variant, an interim 103, pipelined) read the same served by
// edge/fastserve in front of net/http as by net/http alone.
func TestFastserveMatchesNetHTTPThroughEdge(t *testing.T) {
	c := newClock()
	big := randomBody(t, 300<<10)
	o := diffOrigin(t, c, big)
	// A memory tier of 256 KiB keeps nothing over 64 KiB: /big is a disk hit.
	e := newEdge(t, c, edgeConfig{upstream: o.URL, memory: 256 << 10})
	plain := httptest.NewServer(e.handler)
	defer plain.Close()
	req := func(method, target string, fields ...string) string {
		return method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + strings.Join(fields, "") + "\r\n"
	}
	for _, raw := range []string{
		req("GET", "/page"),
		req("HEAD", "/page"),
		req("GET", "/page", "Accept-Encoding: gzip\r\n"),
		req("HEAD", "/page", "Accept-Encoding: gzip, br\r\n"),
		req("GET", "/page", "Range: bytes=10-19\r\n"),
		req("GET", "/page", "Range: bytes=0-4,-5\r\n"),
		req("GET", "/page", "Range: bytes=999999-\r\n"),
		req("GET", "/page", "If-None-Match: \"p1\"\r\n"),
		req("GET", "/page", "If-Match: \"other\"\r\n"),
		req("GET", "/page", "If-Range: \"p1\"\r\n", "Range: bytes=1-2\r\n"),
		req("GET", "/page", "If-Range: \"old\"\r\n", "Range: bytes=1-2\r\n"),
		req("GET", "/page", "Cache-Control: only-if-cached\r\n"),
		req("GET", "/big"),
		req("HEAD", "/big"),
		req("GET", "/big", "Range: bytes=1000-1999\r\n"),
		req("GET", "/big", "Range: bytes=0-9,-10\r\n"),
		req("GET", "/big", "If-None-Match: \"b1\"\r\n"),
		req("GET", "/hints"),
		req("GET", "/missing"),
		req("GET", "/page") + req("HEAD", "/big") + req("GET", "/big", "Range: bytes=5-9\r\n") + req("GET", "/page", "Connection: close\r\n"),
	} {
		sendRaw(t, hostAddr(plain.URL), raw) // the fills
		e.settle(t)
		e.store.Flush()
		want := sendRaw(t, hostAddr(plain.URL), raw)
		got := sendRaw(t, hostAddr(e.URL), raw)
		if got != want {
			t.Errorf("%q:\nfastserve:\n%s\nnet/http:\n%s", raw, got, want)
		}
	}

	// Misses: the same request for a key of its own on each server.
	misses := 0
	for _, raw := range []string{
		req("GET", "/page?miss=%d"),
		req("HEAD", "/page?miss=%d"),
		req("GET", "/page?miss=%d", "If-None-Match: \"p1\"\r\n"), // answered from the head of a chunked fill
		req("GET", "/page?miss=%d", "Accept-Encoding: gzip\r\n"),
		req("GET", "/big?miss=%d", "Range: bytes=100-199\r\n"),
		req("HEAD", "/big?miss=%d"),
		req("GET", "/hints?miss=%d"),
	} {
		misses++
		want := sendRaw(t, hostAddr(plain.URL), fmt.Sprintf(raw, 2*misses))
		got := sendRaw(t, hostAddr(e.URL), fmt.Sprintf(raw, 2*misses+1))
		if got != want {
			t.Errorf("%q:\nfastserve:\n%s\nnet/http:\n%s", raw, got, want)
		}
		if strings.Contains(raw, "/hints") && !strings.Contains(got, "103 Early Hints") {
			t.Errorf("%q: no 103 before the response:\n%s", raw, got)
		}
	}

	// A body the origin cuts short, too large to store (so streamed as it
	// comes), is cut short to the client, with either framing: never a
	// complete-looking response.
	e = newEdge(t, c, edgeConfig{upstream: o.URL, maxObject: 64 << 10})
	plain = httptest.NewServer(e.handler)
	defer plain.Close()
	// How much of the body gets out before the cut depends on how the
	// upstream's bytes arrived, on either server: only that the body is cut
	// short is compared, not its length.
	cutBody := regexp.MustCompile(`body=\d+ bytes [0-9a-f]* `)
	for _, path := range []string{"/broken", "/brokenchunked"} {
		raw := req("GET", path)
		want := cutBody.ReplaceAllString(sendRaw(t, hostAddr(plain.URL), raw), "body=(cut) ")
		got := cutBody.ReplaceAllString(sendRaw(t, hostAddr(e.URL), raw), "body=(cut) ")
		if got != want {
			t.Errorf("%q:\nfastserve:\n%s\nnet/http:\n%s", raw, got, want)
		}
		if !strings.Contains(got, "err=unexpected EOF") {
			t.Errorf("%s: the response looks complete:\n%s", path, got)
		}
	}
}

// TestMissLeftByItsClient: a miss waiting on a slow origin ends as soon as
// its client disconnects (a reset; the fetch goes on for the cache),
// whether or not the client had pipelined another request behind it,
// served by fastserve in front of net/http as by net/http alone, and is
// logged as 499, never answered with a response edged did not have.
// Through fastserve the pipelined one once waited for the origin.
func TestMissLeftByItsClient(t *testing.T) {
	c := newClock()
	gate := newGate()
	asked := make(chan string, 16)
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/next" {
			return
		}
		asked <- r.URL.Path
		gate.wait()
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = io.WriteString(w, "late")
	})
	finished := make(chan Observed, 16) // finished requests but /next
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	h, err := New(Options{Name: "edged", Store: e.store, Upstream: e.handler.opts.Upstream, Now: c.Now,
		FetchTimeout: time.Minute, Observer: func(ob Observed) {
			if ob.Path != "/next" { // served after its predecessor's client left, or not
				finished <- ob
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	fast := newPublicServer(t, h)
	plain := httptest.NewServer(h)
	defer func() {
		gate.open() // before the close, which waits for the fetches
		plain.Close()
		fast.Close()
		closeHandler(t, h)
	}()

	n := 0
	for _, srv := range []*httptest.Server{plain, fast} {
		for _, pipelined := range []bool{false, true} {
			n++
			path := fmt.Sprintf("/slow%d", n)
			raw := "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
			if pipelined {
				raw += "GET /next HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
			}
			conn, err := net.Dial("tcp", hostAddr(srv.URL))
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.WriteString(conn, raw)
			if got := <-asked; got != path {
				t.Fatalf("origin asked for %s, want %s", got, path)
			}
			_ = conn.(*net.TCPConn).SetLinger(0) // a reset: the client is gone
			_ = conn.Close()
			select {
			case got := <-finished:
				if got.Path != path || got.Status != 499 {
					t.Fatalf("finished %s with %d, want %s with 499", got.Path, got.Status, path)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s (pipelined %v, fastserve %v): the request still waits on the origin after its client left", path, pipelined, srv == fast)
			}
		}
	}
}

// TestHalfClosedClientAnswered: a client that half-closes its connection
// after its request (printf ... | nc -N; curl and some load balancers'
// health checks do it) has not left (RFC 9112 §9.6): a miss, a sliced miss
// and a request passed upstream that wait on the origin when the end of
// stream arrives are answered with the origin's response once it comes,
// through fastserve and through net/http as the binary runs it
// (strictconn). Before, the end of stream cancelled the request: the
// client got nothing (and, before clientLeft, a made-up "200 OK").
func TestHalfClosedClientAnswered(t *testing.T) {
	c := newClock()
	release := make(chan struct{})
	asked := make(chan string, 16)
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		asked <- r.URL.Path
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = io.WriteString(w, "the real answer")
	})
	whole := newEdge(t, c, edgeConfig{upstream: o.URL})
	sliced := newEdge(t, c, edgeConfig{upstream: o.URL, slice: 1 << 20})
	plain := httptest.NewUnstartedServer(whole.handler)
	plain.Listener = strictconn.WrapListener(plain.Listener, 0)
	plain.Start()
	t.Cleanup(plain.Close)

	cases := []struct{ name, addr, method string }{
		{"miss, fastserve", hostAddr(whole.URL), http.MethodGet},
		{"miss, net/http", hostAddr(plain.URL), http.MethodGet},
		{"sliced miss", hostAddr(sliced.URL), http.MethodGet},
		{"pass", hostAddr(whole.URL), http.MethodPost},
		{"pass, net/http", hostAddr(plain.URL), http.MethodPost},
	}
	for i, tc := range cases {
		path := fmt.Sprintf("/halfclosed%d", i)
		conn, err := net.Dial("tcp", tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		raw := tc.method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
		if tc.method == http.MethodPost {
			raw = tc.method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\nhi"
		}
		_, _ = io.WriteString(conn, raw)
		select {
		case got := <-asked:
			if got != path {
				t.Fatalf("%s: origin asked for %s, want %s", tc.name, got, path)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the origin was never asked", tc.name)
		}
		_ = conn.(*net.TCPConn).CloseWrite()
		// The request waits on the origin while the end of stream is read
		// (fastserve looks 2 ms after the wait begins).
		time.Sleep(50 * time.Millisecond)
		select {
		case release <- struct{}{}:
		case <-time.After(5 * time.Second): // the upstream request was cancelled
		}
		got, err := io.ReadAll(conn)
		_ = conn.Close()
		if !strings.HasPrefix(string(got), "HTTP/1.1 200 OK\r\n") || !strings.HasSuffix(string(got), "the real answer") {
			t.Errorf("%s: a client that half-closed got %q (err %v), want the origin's answer", tc.name, got, err)
		}
	}
}
