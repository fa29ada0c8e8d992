package origin

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// TestRequestHeaders checks the header the origin receives: the proxy rules
// of RFC 9110 §7.6 plus the de-facto X-Forwarded-* fields.
func TestRequestHeaders(t *testing.T) {
	const absent = "<absent>"
	tests := []struct {
		name   string
		header http.Header
		want   map[string]string // field -> value the origin sees, or absent
	}{
		{
			name: "RFC 9110 §7.6.1 hop-by-hop fields removed",
			header: http.Header{
				"Connection":          {"Foo, Bar"},
				"Foo":                 {"1"},
				"Bar":                 {"2"},
				"Keep-Alive":          {"timeout=5"},
				"Proxy-Connection":    {"keep-alive"},
				"Upgrade":             {"websocket"},
				"Proxy-Authorization": {"Basic eA=="},
				"Proxy-Authenticate":  {"Basic"},
				"Transfer-Encoding":   {"chunked"},
				"Te":                  {"gzip"},
				"Accept":              {"text/html"},
			},
			want: map[string]string{
				"Connection": absent, "Foo": absent, "Bar": absent, "Keep-Alive": absent,
				"Proxy-Connection": absent, "Upgrade": absent, "Proxy-Authorization": absent,
				"Proxy-Authenticate": absent, "Transfer-Encoding": absent, "Te": absent,
				"Accept": "text/html",
			},
		},
		{
			name:   "RFC 9110 §10.1.4 TE trailers kept",
			header: http.Header{"Te": {"gzip;q=0.5, Trailers"}},
			want:   map[string]string{"Te": "trailers"},
		},
		{
			name:   "X-Forwarded-For appended to the client's chain",
			header: http.Header{"X-Forwarded-For": {"192.0.2.1, 192.0.2.2", "192.0.2.3"}},
			want:   map[string]string{"X-Forwarded-For": "192.0.2.1, 192.0.2.2, 192.0.2.3, 198.51.100.7"},
		},
		{
			name:   "X-Forwarded-Proto and -Host overwritten with what this node saw",
			header: http.Header{"X-Forwarded-Proto": {"http"}, "X-Forwarded-Host": {"evil.example"}},
			want:   map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "site.example"},
		},
		{
			name:   "RFC 9110 §7.6.3 Via appended",
			header: http.Header{"Via": {"1.0 fred, 1.1 p.example.net"}},
			want:   map[string]string{"Via": "1.0 fred, 1.1 p.example.net, 1.1 edged"},
		},
		{
			name: "RFC 9110 §7.6.1 Connection cannot remove fields the proxy adds",
			header: http.Header{
				"Connection":      {"X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host, Via, User-Agent"},
				"X-Forwarded-For": {"192.0.2.1"},
				"Via":             {"1.1 spoof"},
			},
			want: map[string]string{
				"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https",
				"X-Forwarded-Host": "site.example", "Via": "1.1 edged", "User-Agent": absent,
			},
		},
		{
			name:   "no User-Agent or Accept-Encoding invented",
			header: http.Header{},
			want:   map[string]string{"User-Agent": absent, "Accept-Encoding": absent},
		},
		{
			name:   "client's User-Agent and Accept-Encoding passed on",
			header: http.Header{"User-Agent": {"curl/8"}, "Accept-Encoding": {"br"}},
			want:   map[string]string{"User-Agent": "curl/8", "Accept-Encoding": "br"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, "origin")
			c := newTestClient(t, Options{Origin: rec.URL})
			before := tt.header.Clone()
			resp, err := c.Do(context.Background(), &Outbound{
				Method: "GET", Host: "site.example", RequestURI: "/x", Header: tt.header,
				ClientIP: "198.51.100.7:51234", Proto: "https", Key: "k",
			})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if !reflect.DeepEqual(tt.header, before) {
				t.Errorf("Do modified the caller's header: got %v, want %v", tt.header, before)
			}
			got := rec.last(t)
			if got.host != "site.example" {
				t.Errorf("Host = %q, want site.example", got.host)
			}
			for field, want := range tt.want {
				vals, ok := got.header[field]
				gotVal := strings.Join(vals, ", ")
				if !ok {
					gotVal = absent
				}
				if gotVal != want {
					t.Errorf("%s = %q, want %q", field, gotVal, want)
				}
			}
		})
	}
}

// TestRequestURIExact checks that the request target is sent byte for byte
// (RFC 9112 §3.2): no re-encoding of escapes, no dropped empty query.
func TestRequestURIExact(t *testing.T) {
	tests := []struct {
		prefix, uri, want string
	}{
		{"", "/a%2Fb?x=%41&y", "/a%2Fb?x=%41&y"},
		{"", "/", "/"},
		{"", "/p?", "/p?"},
		{"", "//double/slash?q", "//double/slash?q"},
		{"", "/%7Euser/a%20b;p=1", "/%7Euser/a%20b;p=1"},
		{"", "/sp%C3%A4t?q=%E2%82%AC", "/sp%C3%A4t?q=%E2%82%AC"},
		{"/base", "/a%2Fb?x", "/base/a%2Fb?x"},
		{"/base/", "/a", "/base/a"},
		{"/b%20c", "/a", "/b%20c/a"},
	}
	rec := newRecorder(t, "origin")
	for _, tt := range tests {
		c := newTestClient(t, Options{Origin: rec.URL + tt.prefix})
		if _, _, err := get(t, c, "k", tt.uri); err != nil {
			t.Fatalf("prefix %q uri %q: %v", tt.prefix, tt.uri, err)
		}
		if got := rec.last(t).requestURI; got != tt.want {
			t.Errorf("prefix %q uri %q: origin saw %q, want %q", tt.prefix, tt.uri, got, tt.want)
		}
	}
}

// TestRequestURIInvalid checks that a target Do cannot send unchanged is
// refused rather than silently rewritten.
func TestRequestURIInvalid(t *testing.T) {
	c := newTestClient(t, Options{Origin: deadURL(t)})
	for _, uri := range []string{"", "x", "*", "http://a/b", "//a b"} {
		_, err := c.Do(context.Background(), &Outbound{RequestURI: uri})
		if err == nil || !strings.Contains(err.Error(), "request URI") {
			t.Errorf("RequestURI %q: error = %v, want a request URI error", uri, err)
		}
	}
}

// TestResponseHeaders checks that hop-by-hop fields of the response are
// removed (RFC 9110 §7.6.1) and this node's Via is appended (RFC 9110
// §7.6.3) with the protocol version the upstream answered with.
func TestResponseHeaders(t *testing.T) {
	tests := []struct {
		name, proto, connection, wantVia string
	}{
		{"HTTP/1.1", "HTTP/1.1", "X-Custom", "1.0 fred, 1.1 edged"},
		{"HTTP/1.0", "HTTP/1.0", "X-Custom", "1.0 fred, 1.0 edged"},
		// Go's transport deletes a Connection field that holds "close",
		// and with it the names it lists: the framer keeps them (found by
		// an attacker's probe, where X-Custom was stored and served).
		{"close", "HTTP/1.1", "close, X-Custom", "1.0 fred, 1.1 edged"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := rawServer(t, tt.proto+" 200 OK\r\n"+
				"Connection: "+tt.connection+"\r\n"+
				"X-Custom: 1\r\n"+
				"Keep-Alive: timeout=5\r\n"+
				"Proxy-Connection: keep-alive\r\n"+
				"Proxy-Authenticate: Basic\r\n"+
				"Upgrade: h2c\r\n"+
				"Via: 1.0 fred\r\n"+
				"Cache-Control: max-age=60\r\n"+
				"Content-Length: 2\r\n\r\nok")
			c := newTestClient(t, Options{Origin: url})
			resp, body, err := get(t, c, "k", "/")
			if err != nil {
				t.Fatal(err)
			}
			if body != "ok" {
				t.Errorf("body = %q, want ok", body)
			}
			for _, field := range []string{"Connection", "X-Custom", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Upgrade"} {
				if v, ok := resp.Header[field]; ok {
					t.Errorf("response %s = %q, want absent", field, v)
				}
			}
			if got := resp.Header.Get("Via"); got != tt.wantVia {
				t.Errorf("Via = %q, want %q", got, tt.wantVia)
			}
			if got := resp.Header.Get("Cache-Control"); got != "max-age=60" {
				t.Errorf("Cache-Control = %q, want max-age=60", got)
			}
		})
	}
}

// TestRequestBody checks that a body and its method reach the origin and that
// the caller's body is not closed.
func TestRequestBody(t *testing.T) {
	tests := []struct {
		name   string
		length int64
	}{
		{"known length", 11},
		{"unknown length", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, "origin")
			c := newTestClient(t, Options{Origin: rec.URL})
			body := &closeRecorder{Reader: strings.NewReader("hello world")}
			resp, err := c.Do(context.Background(), &Outbound{
				Method: "POST", Host: "site.example", RequestURI: "/form",
				Body: body, ContentLength: tt.length,
			})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := rec.last(t).body; got != "hello world" {
				t.Errorf("origin got body %q, want %q", got, "hello world")
			}
			if body.closed {
				t.Error("Do closed the caller's body")
			}
		})
	}
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

// TestResponsePassedThrough checks that statuses, including redirects, come
// back as they are: a proxy does not follow redirects.
func TestResponsePassedThrough(t *testing.T) {
	for _, status := range []int{200, 301, 304, 404, 503} {
		srv := newStatusServer(t, status)
		c := newTestClient(t, Options{Origin: srv})
		resp, _, err := get(t, c, "k", "/")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != status {
			t.Errorf("status = %d, want %d", resp.StatusCode, status)
		}
	}
}

func newStatusServer(tb testing.TB, status int) string {
	tb.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/elsewhere")
		w.WriteHeader(status)
	}))
	tb.Cleanup(srv.Close)
	return srv.URL
}
