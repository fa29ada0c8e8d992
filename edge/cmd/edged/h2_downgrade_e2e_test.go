package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestHTTP2DowngradeFields: what an HTTP/2 client can put in a request
// that an HTTP/1.1 origin would read otherwise (h2 to h1 smuggling) never
// reaches the origin as such. A CR or LF in a field value (which would
// start a field of its own in HTTP/1.1), a transfer-encoding: the stream is
// refused and nothing is forwarded; a content-length its DATA exceeds resets
// the stream and never reaches the origin with more than it declared. A
// host field beside :authority does not choose the key or the forwarded
// Host; a GET's DATA is not forwarded. These hold by net/http's HTTP/2
// server and the edge's own checks; the test pins them.
func TestHTTP2DowngradeFields(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		line := fmt.Sprintf("%s %s host=%s xfh=%s x-a=%q body=%q", r.Method, r.URL.Path, r.Host,
			r.Header.Get("X-Forwarded-Host"), r.Header.Values("X-A"), b)
		mu.Lock()
		seen = append(seen, line)
		mu.Unlock()
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = io.WriteString(w, line)
	}))
	t.Cleanup(o.Close)
	h := startH2Node(t, originYAML(o.URL), "")
	origin := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}

	// send writes one request on stream 1 of a new connection and returns
	// the status (0 for a reset stream or connection) and body.
	send := func(fields [][2]string, data string) (int, string) {
		c := h.dialH2(t)
		var hb bytes.Buffer
		enc := hpack.NewEncoder(&hb)
		for _, f := range fields {
			if err := enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(),
			EndStream: data == "", EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
		if data != "" {
			if err := c.fr.WriteData(1, true, []byte(data)); err != nil {
				t.Fatal(err)
			}
		}
		status, body := 0, ""
		for {
			f, err := c.tryRead()
			if err != nil {
				return status, body
			}
			switch f := f.(type) {
			case *http2.MetaHeadersFrame:
				if f.StreamID == 1 {
					_, _ = fmt.Sscan(f.PseudoValue("status"), &status)
					if f.StreamEnded() {
						return status, body
					}
				}
			case *http2.DataFrame:
				if f.StreamID == 1 {
					body += string(f.Data())
					if f.StreamEnded() {
						return status, body
					}
				}
			case *http2.RSTStreamFrame:
				return 0, ""
			case *http2.GoAwayFrame:
				return 0, ""
			}
		}
	}
	req := func(method, path string, extra ...[2]string) [][2]string {
		return append([][2]string{{":method", method}, {":scheme", "https"}, {":authority", "h2.test"}, {":path", path}}, extra...)
	}

	for _, tt := range []struct {
		name   string
		fields [][2]string
		data   string
	}{
		{"CRLF in a value", req("GET", "/crlf", [2]string{"x-a", "a\r\nx-forwarded-host: evil.test"}), ""},
		{"LF in a value", req("GET", "/lf", [2]string{"x-a", "a\nhost: evil.test"}), ""},
		{"NUL in a value", req("GET", "/nul", [2]string{"x-a", "a\x00b"}), ""},
		{"upper-case name", req("GET", "/upper", [2]string{"X-A", "1"}), ""},
		{"colon in a name", req("GET", "/colon", [2]string{"x-a:b", "1"}), ""},
		{"transfer-encoding", req("POST", "/te", [2]string{"transfer-encoding", "chunked"}), "5\r\nhello\r\n0\r\n\r\n"},
		{"connection", req("GET", "/conn", [2]string{"connection", "x-a"}), ""},
	} {
		if status, body := send(tt.fields, tt.data); status != 0 && status != http.StatusBadRequest {
			t.Errorf("%s: %d %q, want the stream refused (reset or 400)", tt.name, status, body)
		}
	}
	if got := origin(); len(got) != 0 {
		t.Fatalf("refused requests reached the origin: %q", got)
	}
	// A content-length its DATA exceeds resets the stream. The request
	// may already be on its way (the handler starts at HEADERS), but its
	// body is never what the client sent, nor more than it declared, and
	// nothing past it reaches the origin (the upstream connection of a
	// request with a body carries nothing else).
	if status, body := send(req("POST", "/cl", [2]string{"content-length", "3"}), "helloGET /smuggled HTTP/1.1\r\n\r\n"); status != 0 && status != http.StatusBadRequest {
		t.Errorf("content-length short of its DATA: %d %q, want the stream refused (reset or 400)", status, body)
	}
	for _, line := range origin() {
		if !strings.HasPrefix(line, "POST /cl ") || strings.Contains(line, "hello") || strings.Contains(line, "smuggled") {
			t.Errorf("content-length short of its DATA: origin was sent %q", line)
		}
	}

	before := len(origin())
	status, body := send(req("GET", "/host", [2]string{"host", "evil.test"}), "")
	if want := `GET /host host=h2.test xfh=h2.test x-a=[] body=""`; status != http.StatusOK || body != want {
		t.Errorf("host beside :authority: %d %q, want 200 %q", status, body, want)
	}
	status, body = send(req("GET", "/body"), "GET /smuggled HTTP/1.1\r\nHost: h2.test\r\n\r\n")
	if want := `GET /body host=h2.test xfh=h2.test x-a=[] body=""`; status != http.StatusOK || body != want {
		t.Errorf("GET with DATA: %d %q, want 200 %q", status, body, want)
	}
	for _, line := range origin()[before:] {
		if strings.Contains(line, "smuggled") || strings.Contains(line, "evil") {
			t.Errorf("origin was sent %q", line)
		}
	}
}
