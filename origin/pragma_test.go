package origin

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestResponsePragmaKeptAsSent: a response's header reaches the caller as
// the upstream sent it, on every path a response takes (the keep-alive
// pool's GET and HEAD, net/http's transport with and without keep-alive,
// over TLS). net/http's http.ReadResponse turns "Pragma: no-cache" without
// Cache-Control into "Cache-Control: no-cache" (fixPragmaCacheControl);
// RFC 9111 §5.4 gives Pragma in a response no meaning, so a cache that let
// it would revalidate such a response on every request and send clients a
// field the origin never sent.
func TestResponsePragmaKeptAsSent(t *testing.T) {
	const lm = "Last-Modified: Mon, 07 Dec 2026 06:00:00 GMT\r\n"
	heads := []struct {
		name, head string
		wantCC     []string // nil: no Cache-Control field
		wantPragma []string
	}{
		{name: "pragma alone", head: "HTTP/1.1 200 OK\r\nPragma: no-cache\r\n" + lm, wantPragma: []string{"no-cache"}},
		{name: "bare LF line ends", head: "HTTP/1.1 200 OK\nPragma: no-cache\n" + strings.ReplaceAll(lm, "\r", ""), wantPragma: []string{"no-cache"}},
		{name: "lower-case name", head: "HTTP/1.1 200 OK\r\npragma:no-cache\r\n" + lm, wantPragma: []string{"no-cache"}},
		{name: "after interim", head: "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nPragma: no-cache\r\n", wantPragma: []string{"no-cache"}},
		{name: "pragma and cache-control", head: "HTTP/1.1 200 OK\r\nPragma: no-cache\r\nCache-Control: no-cache\r\n", wantCC: []string{"no-cache"}, wantPragma: []string{"no-cache"}},
		{name: "cache-control first", head: "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nPragma: no-cache\r\n", wantCC: []string{"max-age=60"}, wantPragma: []string{"no-cache"}},
		{name: "interim cache-control does not count", head: "HTTP/1.1 103 Early Hints\r\nCache-Control: x\r\n\r\nHTTP/1.1 200 OK\r\nPragma: no-cache\r\n", wantPragma: []string{"no-cache"}},
		{name: "no pragma", head: "HTTP/1.1 200 OK\r\n" + lm},
	}
	bodies := []struct{ name, framing, body string }{
		{"length", "Content-Length: 2\r\n\r\n", "ok"},
		{"chunked", "Transfer-Encoding: chunked\r\n\r\n", "2\r\nok\r\n0\r\n\r\n"},
	}
	for _, useTLS := range []bool{false, true} {
		for _, h := range heads {
			for _, b := range bodies {
				head := h.head
				framing := b.framing
				if !strings.Contains(head, "\r\n") {
					framing = strings.ReplaceAll(framing, "\r", "")
				}
				o := newScriptOrigin(t, useTLS, func(method, path string) []string {
					if method == http.MethodHead {
						return []string{head + framing}
					}
					return []string{head + framing + b.body}
				})
				paths := []struct {
					name string
					opts Options
					out  Outbound
				}{
					{"kept GET", Options{}, Outbound{Method: http.MethodGet}},
					{"kept HEAD", Options{}, Outbound{Method: http.MethodHead}},
					{"transport GET", Options{MaxConnsPerHost: 4}, Outbound{Method: http.MethodGet}},
					{"single-use POST", Options{}, Outbound{Method: http.MethodPost, Body: strings.NewReader("x"), ContentLength: 1}},
				}
				for _, p := range paths {
					name := h.name + "/" + b.name + "/" + p.name
					if useTLS {
						name += "/tls"
					}
					c := o.client(t, p.opts)
					out := p.out
					out.Host, out.RequestURI, out.Key = "site.example", "/p", "/p"
					resp, err := c.Do(context.Background(), &out)
					if err != nil {
						t.Errorf("%s: %v", name, err)
						continue
					}
					body, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil || out.Method != http.MethodHead && string(body) != "ok" {
						t.Errorf("%s: body %q, %v", name, body, err)
					}
					if got, ok := resp.Header["Cache-Control"]; !slices.Equal(got, h.wantCC) || ok != (h.wantCC != nil) {
						t.Errorf("%s: Cache-Control %q (present %v), want %q", name, got, ok, h.wantCC)
					}
					if got := resp.Header["Pragma"]; !slices.Equal(got, h.wantPragma) {
						t.Errorf("%s: Pragma %q, want %q", name, got, h.wantPragma)
					}
				}
			}
		}
	}
}

// TestWithEmptyCacheControl: the line goes at the end of the final head,
// before its empty line, whatever the line ends.
func TestWithEmptyCacheControl(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"HTTP/1.1 200 OK\r\nPragma: no-cache\r\n\r\n", "HTTP/1.1 200 OK\r\nPragma: no-cache\r\nCache-Control:\r\n\r\n"},
		{"HTTP/1.1 200 OK\nPragma: no-cache\n\n", "HTTP/1.1 200 OK\nPragma: no-cache\nCache-Control:\r\n\n"},
		{"HTTP/1.1 200 OK\r\nPragma: no-cache\r\n\n", "HTTP/1.1 200 OK\r\nPragma: no-cache\r\nCache-Control:\r\n\n"},
		{"HTTP/1.1 103 Hints\r\n\r\nHTTP/1.1 200 OK\r\nPragma: x\r\n\r\n", "HTTP/1.1 103 Hints\r\n\r\nHTTP/1.1 200 OK\r\nPragma: x\r\nCache-Control:\r\n\r\n"},
	} {
		if got := string(withEmptyCacheControl([]byte(tt.in))); got != tt.want {
			t.Errorf("withEmptyCacheControl(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzEmptyCacheControl: where the framer marks a final head for an empty
// Cache-Control line, net/http reads the edited head as it reads the head
// as sent (status, body, every field but Cache-Control), and the Client's
// header then has no Cache-Control net/http invented.
func FuzzEmptyCacheControl(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 200 OK\r\nPragma: no-cache\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\npragma: no-cache\nContent-Length: 0\n\n",
		"HTTP/1.1 200 OK\r\nPragma: no-cache\r\nCache-Control : x\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nPragma: no-cache\r\n X\r\nContent-Length: 0\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fr respFramer
		fr.begin(false)
		end := -1 // where the marked final head ends
		for i, c := range data {
			fr.feed([]byte{c})
			if !fr.inHead() {
				if fr.markNoCacheControl {
					end = i + 1
				}
				break
			}
		}
		if end < 0 {
			return
		}
		edited := append(withEmptyCacheControl(data[:end]), data[end:]...)
		want, wantBody, err := readFinal(data)
		if err != nil {
			return
		}
		got, gotBody, err := readFinal(edited)
		if err != nil {
			t.Fatalf("net/http reads %q but not %q: %v", data, edited, err)
		}
		dropEmptyCacheControl(got.Header)
		if cc, ok := got.Header["Cache-Control"]; ok {
			t.Fatalf("Cache-Control %q left from %q", cc, data)
		}
		delete(want.Header, "Cache-Control")
		if got.StatusCode != want.StatusCode || gotBody != wantBody || !maps.EqualFunc(got.Header, want.Header, slices.Equal) {
			t.Fatalf("%q read as %d %q %q, edited as %d %q %q", data, want.StatusCode, want.Header, wantBody, got.StatusCode, got.Header, gotBody)
		}
	})
}

// readFinal reads the final response of data as net/http does.
func readFinal(data []byte) (*http.Response, string, error) {
	br := bufio.NewReader(bytes.NewReader(data))
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return nil, "", err
		}
		if resp.StatusCode >= 100 && resp.StatusCode <= 199 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue
		}
		body, err := io.ReadAll(resp.Body)
		return resp, string(body), err
	}
}
