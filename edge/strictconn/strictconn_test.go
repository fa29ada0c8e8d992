package strictconn

import (
	"bufio"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestStrictFramingSplitReads: the framer keeps its place however the
// bytes are split across reads (one byte at a time here).
func TestStrictFramingSplitReads(t *testing.T) {
	raw := "POST /1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;e\r\nhello\r\n0\r\nT: 1\r\n\r\n" +
		"GET /2 HTTP/1.1\r\nHost: h\r\n\r\n" +
		"POST /3 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
	for _, size := range []int{1, 3, 7, len(raw)} {
		f := framer{limit: 1 << 16}
		var out []byte
		for i := 0; i < len(raw); i += size {
			f.feed([]byte(raw[i:min(i+size, len(raw))]))
			out = append(out, f.out[f.outPos:]...)
			f.out, f.outPos = f.out[:0], 0
		}
		want := raw[:strings.Index(raw, "POST /3")] + string(refusedHead)
		if string(out) != want || f.refused != "Content-Length with Transfer-Encoding" {
			t.Errorf("split %d: passed %q (refused %q), want %q", size, out, f.refused, want)
		}
	}
}

// FuzzStrictFraming: the framer never panics, never passes on more than
// it was given (except its own refusal line), and a header section it
// passes on is passed unchanged.
func FuzzStrictFraming(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), 3)
	f.Add([]byte("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n"), 5)
	f.Add([]byte("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"), 1)
	f.Add([]byte("POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\nhiGET /\n\n"), 2)
	f.Fuzz(func(t *testing.T, raw []byte, size int) {
		if size <= 0 || size > len(raw)+1 {
			size = len(raw) + 1
		}
		fr := framer{limit: 4096}
		var out []byte
		for i := 0; i < len(raw); i += size {
			fr.feed(raw[i:min(i+size, len(raw))])
			out = append(out, fr.out[fr.outPos:]...)
			fr.out, fr.outPos = fr.out[:0], 0
		}
		if fr.refused != "" {
			out = out[:len(out)-len(refusedHead)]
		}
		if !prefixLessCRLFs(out, raw) {
			t.Fatalf("passed %q, not a prefix of %q less some CRLFs", out, raw)
		}
	})
}

// prefixLessCRLFs reports whether out is a prefix of raw with some CRLF
// pairs of raw left out (the empty lines before a request line). Where a
// byte matches and a CRLF starts too, either may be right ("\r\n\r\r\n"
// passed as "\r\r\n"), so both are tried, each pair of places once.
func prefixLessCRLFs(out, raw []byte) bool {
	seen := make(map[[2]int]bool)
	var match func(i, j int) bool
	match = func(i, j int) bool {
		if i == len(out) {
			return true
		}
		if j == len(raw) || seen[[2]int{i, j}] {
			return false
		}
		seen[[2]int{i, j}] = true
		return out[i] == raw[j] && match(i+1, j+1) ||
			j+1 < len(raw) && raw[j] == '\r' && raw[j+1] == '\n' && match(i, j+2)
	}
	return match(0, 0)
}

// TestEmptyLinesBeforeRequestLine: RFC 9112 §2.2 says a server SHOULD
// ignore at least one empty line before a request line. At the start of a
// connection and between pipelined requests (after a GET, where net/http
// alone refuses them), over a real listener; past maxLeadingCRLF they are
// refused as before. A bare LF stays refused (strict line endings).
func TestEmptyLinesBeforeRequestLine(t *testing.T) {
	addr := serveStrict(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.URL.Path) })
	get := func(p string) string { return "GET " + p + " HTTP/1.1\r\nHost: h\r\n\r\n" }
	for _, c := range []struct {
		name, raw string
		want      []string
	}{
		{"one before the first", "\r\n" + get("/a"), []string{"200 OK /a"}},
		{"two before the first", "\r\n\r\n" + get("/a"), []string{"200 OK /a"}},
		{"between GETs", get("/a") + "\r\n" + get("/b"), []string{"200 OK /a", "200 OK /b"}},
		{"split CR", get("/a") + "\r", []string{"200 OK /a"}},
		{"too many", strings.Repeat("\r\n", maxLeadingCRLF) + get("/a"), []string{"400 Bad Request"}},
	} {
		got := answers(t, addr, c.raw, len(c.want), 3*time.Second)
		if len(got) != len(c.want) {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
			continue
		}
		for i := range got {
			if !strings.HasPrefix(got[i], c.want[i]) {
				t.Errorf("%s: answer %d is %q, want %q", c.name, i, got[i], c.want[i])
			}
		}
	}
}

// TestUnfinishedBadHeadAnsweredAtOnce: a header section that is refused
// already before its end (a bad request line, a field line without a
// colon, obs-fold, a bare LF) is answered 400 at once, over a real
// listener, to a client that waits with its side open, as net/http alone
// answers the first two. The framer used to hold the section until its
// blank line, and such a client got no answer until the server's
// ReadHeaderTimeout (here 10 s; the test waits 3) closed the connection.
func TestUnfinishedBadHeadAnsweredAtOnce(t *testing.T) {
	addr := serveStrict(t, func(w http.ResponseWriter, r *http.Request) {})
	for _, raw := range []string{
		"GARBAGE\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nNo colon\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n",
		"GET / HTTP/1.1\r\nHost: a\nX: y\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nNo colon\r\n",
	} {
		got := answers(t, addr, raw, strings.Count(raw, "\r\n\r\n")+1, 3*time.Second) // the last is the bad one's
		if last := got[len(got)-1]; !strings.HasPrefix(last, "400 ") {
			t.Errorf("%q, the client's side left open: got %q (an error: none within 3 s), want 400 last", raw, got)
		}
	}
}

// serveStrict serves handler with net/http behind WrapListener on a
// loopback listener, as the binary does, and returns its address.
func serveStrict(t *testing.T, handler http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = srv.Serve(WrapListener(ln, 0)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// answers writes raw on a new connection to addr, with its side left open,
// and reads up to n responses within timeout, each as "status body"; a
// read that fails ends the list with its error.
func answers(t *testing.T, addr, raw string, n int, timeout time.Duration) []string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var got []string
	for range n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return append(got, err.Error())
		}
		body, _ := io.ReadAll(resp.Body)
		got = append(got, resp.Status+" "+string(body))
	}
	return got
}

// TestRequestBeforeRefusedBytesAnswered: a well-framed request followed on
// its connection by bytes that are refused (a bad request line, a bare LF,
// obs-fold, CL with TE in the next head) gets its answer, then the refusal's 400, over a real
// listener, as from net/http alone. Before, the refusal ended net/http's
// background read with an error while the handler ran, which cancelled the
// request's context: the edge took that for the client's departure, and a
// POST already sent upstream was answered with nothing.
func TestRequestBeforeRefusedBytesAnswered(t *testing.T) {
	addr := serveStrict(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
			w.WriteHeader(http.StatusServiceUnavailable) // what a canceled handler would not have sent
			return
		case <-time.After(50 * time.Millisecond): // an upstream's answer
		}
		_, _ = io.WriteString(w, "answered "+r.URL.Path)
	})
	for _, first := range []string{
		"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
		"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"GET /p HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		for _, after := range []string{
			"XYZ\r\n",
			"GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n",
			"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
			"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		} {
			got := answers(t, addr, first+after, 2, 5*time.Second)
			if len(got) != 2 || got[0] != "200 OK answered /p" || !strings.HasPrefix(got[1], "400 ") {
				t.Errorf("%q then %q: got %q, want the request's answer, then 400", first, after, got)
			}
		}
	}
}
