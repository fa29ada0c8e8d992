package origin

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestRespFramer checks where the framer ends responses: the number of
// bytes of input that belong to the response, and the state after.
func TestRespFramer(t *testing.T) {
	const after = "NEXT"
	for _, tt := range []struct {
		name     string
		head     bool
		response string // followed by "NEXT" in the input
		unknown  bool   // the framer must stop following instead
		close    bool   // the body ends with the connection; net/http must not see the framing fields
	}{
		{name: "Content-Length", response: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"},
		{name: "Content-Length zero", response: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
		{name: "bare LF line ends", response: "HTTP/1.1 200 OK\nContent-Length: 2\n\nok"},
		{name: "field name case and OWS", response: "HTTP/1.1 200 OK\r\ncontent-LENGTH: \t 2 \t\r\n\r\nok"},
		{name: "repeated equal Content-Length", response: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"},
		{name: "chunked", response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\na;ext=1\r\n0123456789\r\n0\r\n\r\n"},
		{name: "chunked with trailers", response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n2\r\nok\r\n0\r\nX-Sum: 1\r\n\r\n"},
		{name: "chunked size with trailing whitespace", response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 \t\r\nok\r\n0\r\n\r\n"},
		{name: "chunked wins over Content-Length", response: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"},
		{name: "HTTP/1.0 ignores Transfer-Encoding", response: "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"},
		{name: "HEAD has no body", head: true, response: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"},
		{name: "204 has no body", response: "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"},
		{name: "304 has no body", response: "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{name: "interim responses", response: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
		{name: "space before colon is another field", response: "HTTP/1.1 200 OK\r\nContent-Length : 9\r\nContent-Length: 2\r\n\r\nok"},
		{name: "fold of another field", response: "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 2\r\n\r\nok"},
		{name: "long unrelated field", response: "HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("x", 3*maxFramingLine) + "\r\nContent-Length: 2\r\n\r\nok"},
		{name: "read until close", response: "HTTP/1.1 200 OK\r\n\r\nbody", unknown: true},
		{name: "upgrade", response: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", unknown: true},
		{name: "fold of Content-Length", response: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n 3\r\n\r\n", unknown: true},
		{name: "conflicting Content-Length", response: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", unknown: true},
		{name: "unknown transfer coding", response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", close: true},
		{name: "chunked not final", response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\nContent-Length: 4\r\n\r\n", close: true},
		{name: "chunked then another field", response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n", close: true},
		{name: "chunked final after another coding", response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", unknown: true},
		{name: "chunked final in a second field", response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", unknown: true},
		{name: "HEAD with an unknown coding", head: true, response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"},
		{name: "bad chunk size", response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 ;x\r\n", unknown: true},
		{name: "bare LF after chunk size", response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nok", unknown: true},
		{name: "not HTTP", response: "SSH-2.0-OpenSSH\r\n", unknown: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			input := tt.response + after
			for _, split := range []int{len(input), 1, 3} {
				var f respFramer
				f.begin(tt.head)
				consumed := 0
				for i := 0; i < len(input); i += split {
					chunk := input[i:min(i+split, len(input))]
					n := f.feed([]byte(chunk))
					consumed += n
					if n < len(chunk) {
						break
					}
				}
				switch {
				case tt.close && (f.state != framingClose || !f.hideFraming):
					t.Errorf("split %d: state %d (hide %v) after %d bytes, want read until close", split, f.state, f.hideFraming, consumed)
				case tt.close:
				case tt.unknown && f.state != framingUnknown:
					t.Errorf("split %d: state %d after %d bytes, want the framer to stop following", split, f.state, consumed)
				case !tt.unknown && (consumed != len(tt.response) || f.state != framingIdle):
					t.Errorf("split %d: response ended after %d bytes in state %d, want %d, idle", split, consumed, f.state, len(tt.response))
				}
			}
		})
	}
}

// FuzzRespFramer checks the framer against net/http's own reading of a
// response: wherever net/http reads a response completely and would keep
// the connection, the framer must end it at exactly the same byte (or stop
// following, which only costs the connection). Ending it elsewhere would
// fail good responses (early) or refuse the connection's next request
// (late).
func FuzzRespFramer(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nA: b\r\n\r\nx",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 204 No Content\r\nConnection: keep-alive\r\n\r\n",
		"HTTP/1.1 200 OK\nContent-Length: 1\nX: a\n b\n\nxy",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, head bool) {
		want, ok := netHTTPEnd(data, head)
		var fr respFramer
		fr.begin(head)
		got := fr.feed(data)
		if fr.state == framingUnknown {
			return
		}
		if !ok {
			return // net/http fails or closes: the framer may say anything
		}
		if got != want || fr.state != framingIdle {
			t.Fatalf("framer ends the response after %d bytes (state %d), net/http after %d, in %q", got, fr.state, want, data)
		}
		// Byte by byte, the framer must agree with itself.
		var one respFramer
		one.begin(head)
		n := 0
		for _, c := range data {
			k := one.feed([]byte{c})
			n += k
			if k == 0 {
				break
			}
		}
		if n != got || one.state != fr.state {
			t.Fatalf("byte by byte: %d bytes, state %d; at once: %d, state %d", n, one.state, got, fr.state)
		}
	})
}

// netHTTPEnd reads one response from data as net/http's transport does
// (interim responses skipped, body read to the end) and returns how many
// bytes it took, with ok false when it failed or would not reuse the
// connection.
func netHTTPEnd(data []byte, head bool) (int, bool) {
	src := bytes.NewReader(data)
	br := bufio.NewReaderSize(src, 32<<10) // the transport's ReadBufferSize
	method := http.MethodGet
	if head {
		method = http.MethodHead
	}
	req, _ := http.NewRequest(method, "http://h/", nil)
	var resp *http.Response
	for {
		var err error
		resp, err = http.ReadResponse(br, req)
		if err != nil {
			return 0, false
		}
		if resp.StatusCode < 100 || resp.StatusCode > 199 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
	}
	if resp.Close || resp.StatusCode == http.StatusSwitchingProtocols {
		return 0, false
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, false
	}
	if resp.Body.Close() != nil {
		return 0, false
	}
	return len(data) - src.Len() - br.Buffered(), true
}

// TestWithoutFraming: only the final head loses its framing fields, with
// any line ending net/http accepts.
func TestWithoutFraming(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\nX: 1\r\n\r\n", "HTTP/1.1 200 OK\r\nX: 1\r\n\r\n"},
		{"HTTP/1.1 200 OK\ntransfer-encoding: gzip\nX: a:b\n\n", "HTTP/1.1 200 OK\nX: a:b\n\n"},
		{"HTTP/1.1 103 Hints\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
			"HTTP/1.1 103 Hints\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"},
		{"HTTP/1.1 200 OK\r\nContent-Length : 3\r\nX-Content-Length: 3\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length : 3\r\nX-Content-Length: 3\r\n\r\n"},
	} {
		if got := string(withoutFraming([]byte(tt.in))); got != tt.want {
			t.Errorf("withoutFraming(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
