package edge

// Hostile requests (issue 7): each test talks to a real edge over raw TCP
// on 127.0.0.1, so that nothing in a Go client cleans the request up first,
// and to a real origin that records what it was sent.

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"edged/edge/internal/framingtest"
	"edged/storage"
)

// rawResponse is one answer read off a raw connection.
type rawResponse struct {
	status int
	header http.Header
	body   string
	// readErr: reading the body failed (the edge cut the response short
	// of its framing rather than end it cleanly).
	readErr error
}

// rawExchange writes raw to addr and reads one response; status 0 means the
// connection closed without one.
func rawExchange(t testing.TB, addr, raw string) rawResponse {
	t.Helper()
	rs := rawExchanges(t, addr, raw, 1)
	return rs[0]
}

// rawExchanges writes raw (which may hold pipelined requests) and reads up
// to n responses, fewer if the edge closes the connection.
func rawExchanges(t testing.TB, addr, raw string, n int) []rawResponse {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	out := make([]rawResponse, n)
	for i := range out {
		var req *http.Request
		if i == 0 && strings.HasPrefix(raw, "HEAD ") {
			req = &http.Request{Method: http.MethodHead} // a HEAD response has no body
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			break
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		out[i] = rawResponse{status: resp.StatusCode, header: resp.Header, body: string(b), readErr: err}
	}
	return out
}

// hostAddr is host:port of a test server URL.
func hostAddr(u string) string { return strings.TrimPrefix(u, "http://") }

// echoOrigin answers every request with what it received: request line,
// Host and header fields, and how many body bytes it could read. It is
// cacheable for a minute unless the handler is replaced.
func echoOrigin(t testing.TB, c *clock) *testOrigin {
	return newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "%s %s\nhost=%s\nbody=%d err=%v\n", r.Method, r.RequestURI, r.Host, len(b), err)
		_ = r.Header.Write(w)
	})
}

// strictEdge serves e's handler as the binary does: edge/fastserve in
// front, net/http behind strictconn.WrapListener for what it hands on.
func strictEdge(t testing.TB, e *testEdge) string {
	t.Helper()
	srv := newPublicServer(t, e.handler)
	t.Cleanup(srv.Close)
	return hostAddr(srv.URL)
}

// TestHostileUnkeyedFieldsStripped: fields that tell an origin another
// host, scheme, URL or method never reach it from a client; the edge sets
// X-Forwarded-Host/-Proto itself and appends to X-Forwarded-For. Names with
// "_" (aliases of "-" names in CGI-style origins) are dropped.
func TestHostileUnkeyedFieldsStripped(t *testing.T) {
	c := newClock()
	o := echoOrigin(t, c)
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	raw := "GET /u HTTP/1.1\r\nHost: victim.example\r\n" +
		"X-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https\r\nForwarded: host=evil.example;proto=https\r\n" +
		"X-Original-URL: /admin\r\nX-Rewrite-URL: /admin\r\nX-HTTP-Method-Override: DELETE\r\n" +
		"X-Forwarded-Server: evil\r\nX-Forwarded-Port: 8443\r\nX-Forwarded-Scheme: https\r\nX-Forwarded-Prefix: /evil\r\n" +
		"X-Host: evil.example\r\nX_Forwarded_Host: evil.example\r\nX-Custom_Name: x\r\nX-Forwarded-For: 192.0.2.7\r\n\r\n"
	resp := rawExchange(t, hostAddr(e.URL), raw)
	if resp.status != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.status)
	}
	got := o.last(t).Header
	for _, name := range []string{"Forwarded", "X-Original-Url", "X-Rewrite-Url", "X-Http-Method-Override", "X-Forwarded-Server",
		"X-Forwarded-Port", "X-Forwarded-Scheme", "X-Forwarded-Prefix", "X-Host", "X_forwarded_host", "X-Custom_name"} {
		if v, ok := got[name]; ok {
			t.Errorf("origin received %s: %q", name, v)
		}
	}
	for name, want := range map[string]string{
		"X-Forwarded-Host":  "victim.example",
		"X-Forwarded-Proto": "http",
		"X-Forwarded-For":   "192.0.2.7, 127.0.0.1", // appended to, the de-facto rule
	} {
		if v := got.Get(name); v != want {
			t.Errorf("origin received %s = %q, want %q", name, v, want)
		}
	}
	if strings.Contains(resp.body, "evil") {
		t.Errorf("response reflects a client override:\n%s", resp.body)
	}
}

// TestHostileConnectionCannotRemoveEdgeFields: RFC 9110 §7.6.1 lets a client
// name hop-by-hop fields in Connection; it must not remove what the edge
// adds, and a field it names must not select a Vary variant, since the
// origin never sees it (else the origin's answer to "no Accept-Language"
// would be stored as the French variant).
func TestHostileConnectionCannotRemoveEdgeFields(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Accept-Language")
		fmt.Fprintf(w, "lang=%s", r.Header.Get("Accept-Language"))
	})
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	addr := hostAddr(e.URL)
	resp := rawExchange(t, addr, "GET /v HTTP/1.1\r\nHost: h\r\nAccept-Language: fr\r\n"+
		"Connection: X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto, Via, Accept-Language\r\n\r\n")
	if resp.status != http.StatusOK {
		t.Fatalf("status %d", resp.status)
	}
	got := o.last(t).Header
	for _, name := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Via"} {
		if got.Get(name) == "" {
			t.Errorf("Connection removed %s, which the edge adds", name)
		}
	}
	if v := got.Get("Accept-Language"); v != "" {
		t.Errorf("origin received Accept-Language %q named in Connection", v)
	}
	resp = rawExchange(t, addr, "GET /v HTTP/1.1\r\nHost: h\r\nAccept-Language: fr\r\n\r\n")
	if resp.body != "lang=fr" {
		t.Errorf("French request got %q, want lang=fr (poisoned variant)", resp.body)
	}
	// The edge reads Connection as the upstream client does: parameters,
	// which the token list grammar does not allow (RFC 9110 §7.6.1), cut
	// off at ';'. Read whole, "Accept-Language;x=1" named no field at the
	// edge, so the variant was keyed on "de" while the upstream client
	// removed the field and the origin answered "lang=".
	for i, conn := range []string{" accept-language\t, close", "Accept-Language;x=1", "Accept-Language ;x"} {
		path := fmt.Sprintf("/p%d", i)
		resp = rawExchange(t, addr, "GET "+path+" HTTP/1.1\r\nHost: h\r\nAccept-Language: de\r\nConnection: "+conn+"\r\n\r\n")
		if resp.status != http.StatusOK || resp.body != "lang=" {
			t.Errorf("Connection %q: %d %q, want 200 lang= (the field it names removed)", conn, resp.status, resp.body)
		}
		resp = rawExchange(t, addr, "GET "+path+" HTTP/1.1\r\nHost: h\r\nAccept-Language: de\r\n\r\n")
		if resp.body != "lang=de" {
			t.Errorf("after Connection %q, a German request got %q, want lang=de (poisoned variant)", conn, resp.body)
		}
	}
}

// TestHostileGetBodyNotForwarded: a body on GET or HEAD has no defined
// meaning (RFC 9110 §9.3.1) and is not part of the key, so it is never
// forwarded, whatever its framing; the edge stays in sync with the client
// and answers the next request on the connection.
func TestHostileGetBodyNotForwarded(t *testing.T) {
	c := newClock()
	o := echoOrigin(t, c)
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	for _, tt := range []struct{ name, raw string }{
		{"GET Content-Length", "GET /b1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"},
		{"GET chunked", "GET /b2 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
		{"HEAD Content-Length", "HEAD /b3 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rs := rawExchanges(t, hostAddr(e.URL), tt.raw+"GET /after HTTP/1.1\r\nHost: h\r\n\r\n", 2)
			if rs[0].status != http.StatusOK || rs[1].status != http.StatusOK {
				t.Fatalf("statuses %d, %d, want 200, 200", rs[0].status, rs[1].status)
			}
			o.mu.Lock()
			defer o.mu.Unlock()
			for _, r := range o.seen[len(o.seen)-2:] {
				if r.ContentLength > 0 || r.Header.Get("Content-Length") != "" || len(r.TransferEncoding) > 0 {
					t.Errorf("origin got %s %s with a body: CL %d, TE %q", r.Method, r.RequestURI, r.ContentLength, r.TransferEncoding)
				}
			}
			if !strings.HasPrefix(rs[1].body, "GET /after") {
				t.Errorf("second response %q, want the answer to GET /after", rs[1].body)
			}
		})
	}
}

// TestHostileH2CUpgradeRefused: edged speaks HTTP/2 only over TLS (RFC 9113
// §3.2: h2c upgrade is obsolete); a cleartext upgrade is refused with 400
// and not forwarded, so no hop behind the cache can be talked into h2c.
// Other Upgrade fields are hop-by-hop and ignored (RFC 9110 §7.8).
func TestHostileH2CUpgradeRefused(t *testing.T) {
	c := newClock()
	o := echoOrigin(t, c)
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	resp := rawExchange(t, hostAddr(e.URL), "GET /h2c HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\n"+
		"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
	if resp.status != http.StatusBadRequest {
		t.Errorf("h2c upgrade: status %d, want 400", resp.status)
	}
	if n := o.requests.Load(); n != 0 {
		t.Errorf("origin received %d requests, want 0", n)
	}
	resp = rawExchange(t, hostAddr(e.URL), "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	if resp.status != http.StatusOK {
		t.Fatalf("websocket upgrade: status %d, want 200 (ignored)", resp.status)
	}
	if v := o.last(t).Header.Get("Upgrade"); v != "" {
		t.Errorf("origin received Upgrade %q", v)
	}
	// The refusal itself is never stored: the same URL is then served.
	resp = rawExchange(t, hostAddr(e.URL), "GET /h2c HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp.status != http.StatusOK {
		t.Errorf("after a refused request, status %d, want 200", resp.status)
	}
}

// TestHostileErrorsNotStored is cache-poisoned denial of service (CPDoS): a
// request the origin refuses because of something unkeyed (an oversized or
// bad header) must not store the error for everyone. RFC 9111 §3 and RFC
// 9110 §15.1: without explicit freshness only heuristically cacheable
// statuses may be stored, and 400, 431, 500, 502, 503 are not; with
// explicit freshness RFC 9111 allows storing, as the origin asked.
func TestHostileErrorsNotStored(t *testing.T) {
	for _, tt := range []struct {
		status    int
		fields    []string
		wantStore bool
	}{
		{http.StatusBadRequest, nil, false},
		{http.StatusRequestHeaderFieldsTooLarge, nil, false},
		{http.StatusInternalServerError, nil, false},
		{http.StatusBadGateway, nil, false},
		{http.StatusServiceUnavailable, []string{"Retry-After", "5"}, false},
		{http.StatusNotFound, []string{"Cache-Control", "max-age=60"}, true}, // RFC 9111 §3: explicit freshness
	} {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			c := newClock()
			o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("X-Poison") != "" {
					for i := 0; i+1 < len(tt.fields); i += 2 {
						w.Header().Set(tt.fields[i], tt.fields[i+1])
					}
					w.Header().Set("Last-Modified", httpDate(c.Now().Add(-24*time.Hour)))
					w.WriteHeader(tt.status)
					_, _ = io.WriteString(w, "error")
					return
				}
				w.Header().Set("Cache-Control", "max-age=60")
				_, _ = io.WriteString(w, "fine")
			})
			e := newEdge(t, c, edgeConfig{upstream: o.URL})
			addr := hostAddr(e.URL)
			if r := rawExchange(t, addr, "GET /p HTTP/1.1\r\nHost: h\r\nX-Poison: 1\r\n\r\n"); r.status != tt.status {
				t.Fatalf("poisoning request: status %d, want %d", r.status, tt.status)
			}
			r := rawExchange(t, addr, "GET /p HTTP/1.1\r\nHost: h\r\n\r\n")
			if stored := r.body == "error"; stored != tt.wantStore {
				t.Errorf("victim got %d %q; error stored = %v, want %v", r.status, r.body, stored, tt.wantStore)
			}
		})
	}
}

// TestHostileForwardedURLIsKeyedURL is parameter cloaking and path
// confusion: two requests share a cache entry if and only if the origin is
// sent the same bytes for them. Each URL is first passed through uncached
// (Cache-Control: no-store, RFC 9111 §5.2.1.5) to learn what the origin is
// sent for it; then, cached, every response must be the origin's answer to
// exactly that request line, and a URL whose forwarded form was seen before
// must be a hit.
func TestHostileForwardedURLIsKeyedURL(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = io.WriteString(w, r.RequestURI)
	})
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	addr := hostAddr(e.URL)
	targets := []string{
		"/p?a=1&b=2", "/p?b=2&a=1", "/p?a=1;b=2", "/p?a=1&a=2", "/p?a=2&a=1", "/p?a=1%26b=2", "/p?a=1%26b%3d2",
		"/p?a=1%26b%3D2", "/p?a%3D1", "/p?a=1%3Fb", "/p?a=1%23b", "/p?a=%2f", "/p?a=%2F", "/p?a=1#frag",
		"/p;a=1", "/p%3Fa=1", "/p%23a", "/a/../p", "/a/%2e%2e/p", "/a/./p", "/%70", "/p%2fq", "/p%2Fq", "/p/q",
		"//p", "/p//q", "/P", "/p", "/p?", "/p?a=1&b=2&", "/p?a=%41", "/p?a=A", "/p%7e", "/p~",
	}
	sent := make(map[string]string, len(targets))
	for _, target := range targets {
		r := rawExchange(t, addr, "GET "+target+" HTTP/1.1\r\nHost: h\r\nCache-Control: no-store\r\n\r\n")
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: status %d", target, r.status)
		}
		sent[target] = r.body
	}
	seen := map[string]bool{}
	for _, target := range targets {
		r := rawExchange(t, addr, "GET "+target+" HTTP/1.1\r\nHost: h\r\n\r\n")
		if r.body != sent[target] {
			t.Errorf("GET %s: served the answer to %q, but the origin is sent %q for it", target, r.body, sent[target])
		}
		hit := strings.Contains(r.header.Get("Cache-Status"), "hit")
		if hit != seen[sent[target]] {
			t.Errorf("GET %s (sent as %s): hit = %v, want %v", target, sent[target], hit, seen[sent[target]])
		}
		seen[sent[target]] = true
	}
}

// TestHostileAmbiguousPathsRefused: a path whose dot segment appears only
// once an origin decodes %2F or %5C, or drops ";params", is refused (400)
// rather than keyed and routed under a prefix the origin does not serve.
func TestHostileAmbiguousPathsRefused(t *testing.T) {
	c := newClock()
	o := echoOrigin(t, c)
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	for _, target := range []string{"/static/..%2fadmin", "/static/..%2Fadmin", "/static%2f..%2fadmin", "/static/..%5cadmin",
		"/static/..\\admin", "/static/..;/admin", "/static/%2e%2e;x/admin", "/static/.;/admin"} {
		if r := rawExchange(t, hostAddr(e.URL), "GET "+target+" HTTP/1.1\r\nHost: h\r\n\r\n"); r.status != http.StatusBadRequest {
			t.Errorf("GET %s: status %d, want 400", target, r.status)
		}
	}
	if n := o.requests.Load(); n != 0 {
		t.Errorf("origin received %d requests", n)
	}
}

// TestHostileHostForms: RFC 3986 §6.2.3 "victim" and "victim:80" are one
// authority and share a key; in absolute form the target's authority wins
// over Host (RFC 9112 §3.2.2), and the key, the forwarded Host and
// X-Forwarded-Host all use that same authority, so they cannot disagree.
func TestHostileHostForms(t *testing.T) {
	c := newClock()
	o := echoOrigin(t, c)
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	addr := hostAddr(e.URL)
	get := func(raw string) rawResponse {
		t.Helper()
		r := rawExchange(t, addr, raw)
		if r.status != http.StatusOK {
			t.Fatalf("%q: status %d", raw, r.status)
		}
		return r
	}
	get("GET /h HTTP/1.1\r\nHost: victim\r\n\r\n")
	for _, host := range []string{"victim:80", "VICTIM", "victim.", "victim:080", "%76ictim", "VICTI%4D"} {
		r := get("GET /h HTTP/1.1\r\nHost: " + host + "\r\n\r\n")
		if !strings.Contains(r.header.Get("Cache-Status"), "hit") {
			t.Errorf("Host %s: not a hit on victim's entry (Cache-Status %q)", host, r.header.Get("Cache-Status"))
		}
	}
	if got := o.last(t).Host; got != "victim" {
		t.Errorf("origin Host = %q, want victim", got)
	}

	r := get("GET http://other/a HTTP/1.1\r\nHost: victim\r\n\r\n")
	last := o.last(t)
	if last.Host != "other" || last.Header.Get("X-Forwarded-Host") != "other" || !strings.Contains(r.body, "host=other") {
		t.Errorf("absolute form: origin Host %q, X-Forwarded-Host %q; want other for both", last.Host, last.Header.Get("X-Forwarded-Host"))
	}
	if r := get("GET /a HTTP/1.1\r\nHost: other\r\n\r\n"); !strings.Contains(r.header.Get("Cache-Status"), "hit") {
		t.Errorf("GET /a Host: other after the absolute-form request: not a hit; the key did not use its authority")
	}
	if r := get("GET /a HTTP/1.1\r\nHost: victim\r\n\r\n"); strings.Contains(r.header.Get("Cache-Status"), "hit") || !strings.Contains(r.body, "host=victim") {
		t.Errorf("GET /a Host: victim got other's entry: %q", r.body)
	}

	// An https target on a plain connection is keyed and forwarded as
	// http, the connection's scheme: a plain-HTTP client cannot fill the
	// https entry (an origin that redirects by X-Forwarded-Proto would
	// have its redirect served to every HTTPS client).
	get("GET https://victim/s HTTP/1.1\r\nHost: victim\r\n\r\n")
	if got := o.last(t).Header.Get("X-Forwarded-Proto"); got != "http" {
		t.Errorf("https absolute form on a plain connection: X-Forwarded-Proto %q, want http", got)
	}
	if r := get("GET /s HTTP/1.1\r\nHost: victim\r\n\r\n"); !strings.Contains(r.header.Get("Cache-Status"), "hit") {
		t.Errorf("GET /s after GET https://victim/s on a plain connection: not a hit on the http key")
	}

	// RFC 9110 §4.2.4: userinfo hides the authority ("http://victim@other/");
	// it is refused, not ignored (it was served as other's /u on the old code).
	before := o.requests.Load()
	for _, target := range []string{"http://victim@other/u", "http://user:pass@other/u"} {
		if r := rawExchange(t, addr, "GET "+target+" HTTP/1.1\r\nHost: other\r\n\r\n"); r.status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", target, r.status)
		}
	}
	if n := o.requests.Load() - before; n != 0 {
		t.Errorf("targets with userinfo reached the origin %d times", n)
	}
}

// TestHostileFramingRefused is request smuggling at the edge's front door
// (RFC 9112 §11.2): a request whose framing two parsers could read
// differently is refused with 400 and its connection closed, and nothing of
// it, nor of what follows on the connection, reaches the origin. The
// smuggled request after each is what a front proxy preferring the other
// reading would have forwarded as a body. The cases are shared with the
// HTTPS listener's test (TestTLSFramingRefused in edge/cmd/edged).
//
// Each case is sent first on its connection, and again after a plain GET
// that edge/fastserve answers itself before handing the connection on.
func TestHostileFramingRefused(t *testing.T) {
	for _, tt := range framingtest.Refused() {
		for _, after := range []bool{false, true} {
			name := tt.Name
			if after {
				name += " after a plain GET"
			}
			t.Run(name, func(t *testing.T) {
				testFramingRefused(t, tt, after)
			})
		}
	}
}

func testFramingRefused(t *testing.T, tt framingtest.Case, afterPlain bool) {
	c := newClock()
	o := echoOrigin(t, c)
	addr := strictEdge(t, newEdge(t, c, edgeConfig{upstream: o.URL}))
	raw, first := tt.Raw+framingtest.Smuggled, 0
	if afterPlain {
		raw, first = "GET /first HTTP/1.1\r\nHost: h\r\n\r\n"+raw, 1
	}
	rs := rawExchanges(t, addr, raw, first+2)
	if afterPlain && rs[0].status != http.StatusOK {
		t.Errorf("plain GET before the case: status %d, want 200", rs[0].status)
	}
	if tt.Status != 0 && rs[first].status != tt.Status {
		t.Errorf("status %d, want %d", rs[first].status, tt.Status)
	}
	if rs[first+1].status != 0 {
		t.Errorf("a second response (%d) on the connection: it was not closed", rs[first+1].status)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, r := range o.seen {
		if r.RequestURI == "/smuggled" || (r.Method == http.MethodPost && !tt.HeadOK) {
			t.Errorf("origin received %s %s", r.Method, r.RequestURI)
		}
	}
}

// TestHostileBareLFHeadRefusedAtOnce: a head whose lines all end in a
// bare LF never ends in CRLF CRLF; its client, waiting for the answer
// without closing its side, gets strictconn's 400 at once. edge/fastserve
// used to wait for CRLF CRLF, and such a client got nothing until
// read_header_timeout (here: the test's 10 s read) ended the connection.
func TestHostileBareLFHeadRefusedAtOnce(t *testing.T) {
	c := newClock()
	o := echoOrigin(t, c)
	addr := strictEdge(t, newEdge(t, c, edgeConfig{upstream: o.URL}))
	for _, raw := range []string{
		"GET /lf HTTP/1.1\nHost: h\n\n",
		"GET /lf HTTP/1.1\r\nHost: h\r\n\n",
		"GET /first HTTP/1.1\r\nHost: h\r\n\r\nGET /lf HTTP/1.1\nHost: h\n\n",
	} {
		first := strings.Count(raw, "\r\n\r\n")
		rs := rawExchanges(t, addr, raw, first+1)
		if got := rs[first].status; got != http.StatusBadRequest {
			t.Errorf("%q: status %d, want 400", raw, got)
		}
	}
	if n := o.requests.Load(); n != 1 {
		t.Errorf("origin asked %d times, want once (for /first)", n)
	}
}

// TestHostileFramingAllowed: well-framed requests pass strictconn
// unchanged, pipelined, with chunk extensions, trailers and optional
// whitespace (RFC 9110 §5.6.3), each answered on the one connection.
func TestHostileFramingAllowed(t *testing.T) {
	c := newClock()
	o := echoOrigin(t, c)
	addr := strictEdge(t, newEdge(t, c, edgeConfig{upstream: o.URL}))
	want := framingtest.AllowedRequests()
	rs := rawExchanges(t, addr, framingtest.Allowed, len(want))
	for i, r := range rs {
		prefix := want[i].Method + " " + want[i].Path
		if want[i].Method == http.MethodPost {
			prefix += fmt.Sprintf("\nhost=h\nbody=%d ", want[i].BodyLen)
		}
		if r.status != http.StatusOK || !strings.HasPrefix(r.body, prefix) {
			t.Errorf("response %d: %d %q, want 200 %q...", i+1, r.status, r.body, prefix)
		}
	}
}

// TestHostileTruncatedBody: a request body cut short by the client (Content-
// Length 100, 10 bytes sent, then the connection half-closed) is never
// delivered to the origin as a complete request.
func TestHostileTruncatedBody(t *testing.T) {
	for _, tt := range []struct{ name, raw string }{
		{"Content-Length", "POST /t HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n0123456789"},
		{"chunked", "POST /t HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n0123456789"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			var mu sync.Mutex
			var results []string
			done := make(chan struct{}, 1)
			o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
				b, err := io.ReadAll(r.Body)
				mu.Lock()
				results = append(results, fmt.Sprintf("%d bytes, err %v", len(b), err))
				mu.Unlock()
				done <- struct{}{}
			})
			addr := strictEdge(t, newEdge(t, c, edgeConfig{upstream: o.URL}))
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			_, _ = io.WriteString(conn, tt.raw)
			_ = conn.(*net.TCPConn).CloseWrite()
			_, _ = io.Copy(io.Discard, conn) // until the edge closes
			select {
			case <-done:
			case <-time.After(5 * time.Second): // the origin may never be asked
			}
			mu.Lock()
			defer mu.Unlock()
			for _, res := range results {
				if strings.HasSuffix(res, "err <nil>") {
					t.Errorf("origin read a complete body: %s", res)
				}
			}
		})
	}
}

// rawOrigin is an origin on 127.0.0.1 that writes, for each request it
// reads, the raw bytes answer returns for its path, and closes the
// connection after them when answer says so. It counts connections.
type rawOrigin struct {
	ln    net.Listener
	mu    sync.Mutex // guards conns and open
	conns int
	open  []net.Conn
}

func (o *rawOrigin) connections() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.conns
}

func newRawOrigin(t testing.TB, answer func(path string) (raw string, closeConn bool)) *rawOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &rawOrigin{ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		o.mu.Lock()
		for _, c := range o.open {
			c.Close()
		}
		o.mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			o.mu.Lock()
			o.conns++
			o.open = append(o.open, conn)
			o.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				br := bufio.NewReader(conn)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					raw, closeConn := answer(req.URL.Path)
					if _, err := io.WriteString(conn, raw); err != nil || closeConn {
						return
					}
				}
			}()
		}
	}()
	return o
}

const goodResponse = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nCache-Control: max-age=60\r\n\r\ngood"

// TestHostileGarbageOrigin: an upstream response that breaks HTTP/1.1
// framing or field syntax (RFC 9112 §2.2, §5, §6.3) is not stored, and its
// connection is not reused: the next request for the same URL reaches the
// origin again, on a new connection, and gets its answer. The client is
// answered 502 while nothing was sent; but a storable 200 is streamed from
// its first body bytes (fillstream.go), so when the fault comes after them
// (a body shorter than its Content-Length) the head may have gone out
// first, depending on scheduling, and the client's response is then cut
// short of its Content-Length: never a clean end.
func TestHostileGarbageOrigin(t *testing.T) {
	for _, tt := range []struct {
		name, bad string
		// cut: body bytes arrive before the fault, so the answer may be
		// a 200 with (a prefix of) them, cut, rather than a 502.
		cut bool
	}{
		{"not HTTP", "garbage\r\n\r\n", false},
		{"bare CR in value", "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nX-A: b\rSet-Cookie: x=1\r\nContent-Length: 2\r\n\r\nok", false},
		{"NUL in value", "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nX-A: b\x00\r\nContent-Length: 2\r\n\r\nok", false},
		{"two Content-Length", "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", false},
		{"body shorter than Content-Length", "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 10\r\nConnection: close\r\n\r\nok", true},
		{"no body before close", "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 10\r\nConnection: close\r\n\r\n", false},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n", false},
		{"chunked after another coding", "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			calls := 0
			o := newRawOrigin(t, func(string) (string, bool) {
				mu.Lock()
				defer mu.Unlock()
				if calls++; calls == 1 {
					// Kept open (so the edge must drop it), except when
					// the close is what cuts the body short.
					return tt.bad, strings.Contains(tt.bad, "Connection: close")
				}
				return goodResponse, false
			})
			e := newEdge(t, newClock(), edgeConfig{upstream: "http://" + o.ln.Addr().String()})
			addr := hostAddr(e.URL)
			r := rawExchange(t, addr, "GET /g HTTP/1.1\r\nHost: h\r\n\r\n")
			switch {
			case r.status == http.StatusBadGateway:
			case tt.cut && r.status == http.StatusOK:
				// The head went out before the fault: the body must be
				// cut short of the Content-Length the origin announced.
				if r.readErr == nil || r.header.Get("Content-Length") != "10" || !strings.HasPrefix("ok", r.body) {
					t.Errorf("first response 200 %q, Content-Length %q, read error %v: want it cut short of 10 bytes, never a clean end",
						r.body, r.header.Get("Content-Length"), r.readErr)
				}
			case tt.cut:
				t.Errorf("first response %d %q, want 502, or a 200 cut short", r.status, r.body)
			default:
				t.Errorf("first response %d %q, want 502", r.status, r.body)
			}
			r = rawExchange(t, addr, "GET /g HTTP/1.1\r\nHost: h\r\n\r\n")
			if r.status != http.StatusOK || r.body != "good" || r.readErr != nil {
				t.Errorf("second response %d %q (read error %v), want 200 good: the broken response was stored", r.status, r.body, r.readErr)
			}
			if n := o.connections(); n != 2 {
				t.Errorf("origin saw %d connections, want 2: the broken one was reused", n)
			}
		})
	}
}

// TestHostileOriginDesync: bytes after a complete response are never read
// as the answer to a later request. When they start another response (a
// second, unrequested response; a response split by a CRLF in a field
// value, which ends the header early and smuggles a second one) the two
// may be out of turn: the response they arrive with is refused (502) and
// not stored, although it is cacheable. Other bytes (junk after a
// Content-Length body) are an overrun: the response is served and stored
// as its Content-Length frames it (RFC 9112 §6.3). Either way the
// connection is discarded and the origin quarantined: every later request
// gets a new connection. The race where another request takes the
// connection as the body ends is TestDesyncRace in package origin.
func TestHostileOriginDesync(t *testing.T) {
	const evil = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nCache-Control: max-age=600\r\n\r\nevil"
	for _, tt := range []struct {
		name, first string
		served      bool
	}{
		{"second response", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nCache-Control: max-age=60\r\n\r\nok" + evil, false},
		{"junk after body", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nCache-Control: max-age=60\r\n\r\nokevil", true},
		{"CRLF in a field value", "HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\nCache-Control: max-age=60\r\n\r\n" +
			evil + "\r\nContent-Length: 2\r\n\r\nok", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var firsts atomic.Int64
			o := newRawOrigin(t, func(path string) (string, bool) {
				if path == "/first" && firsts.Add(1) == 1 {
					return tt.first, false // kept open: the edge must drop it
				}
				return goodResponse, false
			})
			e := newEdge(t, newClock(), edgeConfig{upstream: "http://" + o.ln.Addr().String()})
			addr := hostAddr(e.URL)
			wantFirst, wantAgain, wantFirsts, wantConns := http.StatusBadGateway, "good", int64(2), 5
			if tt.served {
				wantFirst, wantAgain, wantFirsts, wantConns = http.StatusOK, "ok", 1, 4
			}
			if r := rawExchange(t, addr, "GET /first HTTP/1.1\r\nHost: h\r\n\r\n"); r.status != wantFirst {
				t.Errorf("first: %d %q, want %d", r.status, r.body, wantFirst)
			}
			if r := rawExchange(t, addr, "GET /first HTTP/1.1\r\nHost: h\r\n\r\n"); r.status != http.StatusOK || r.body != wantAgain {
				t.Errorf("first again: %d %q, want %q", r.status, r.body, wantAgain)
			}
			if n := firsts.Load(); n != wantFirsts {
				t.Errorf("origin asked for /first %d times, want %d", n, wantFirsts)
			}
			for i := range 3 {
				r := rawExchange(t, addr, fmt.Sprintf("GET /next%d HTTP/1.1\r\nHost: h\r\n\r\n", i))
				if r.body != "good" {
					t.Errorf("next%d: %d %q, want the origin's answer good", i, r.status, r.body)
				}
			}
			if n := o.connections(); n != wantConns {
				t.Errorf("origin saw %d connections, want %d: one per request once the origin is quarantined", n, wantConns)
			}
		})
	}
}

// TestHostileOriginTransferCoding: a response whose Transfer-Encoding does
// not end in chunked is read until the origin closes the connection (RFC
// 9112 §6.3 item 4), its Content-Length ignored, and served and stored as
// received; the connection is not reused.
func TestHostileOriginTransferCoding(t *testing.T) {
	for _, te := range []string{"gzip", "chunked, x-custom", "Transfer-Encoding-store-value"} {
		t.Run(te, func(t *testing.T) {
			var calls atomic.Int64
			o := newRawOrigin(t, func(path string) (string, bool) {
				if path == "/te" && calls.Add(1) == 1 {
					return "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 2\r\nTransfer-Encoding: " + te +
						"\r\n\r\nbody until close", true
				}
				return goodResponse, false
			})
			e := newEdge(t, newClock(), edgeConfig{upstream: "http://" + o.ln.Addr().String()})
			addr := hostAddr(e.URL)
			for i := range 2 {
				r := rawExchange(t, addr, "GET /te HTTP/1.1\r\nHost: h\r\n\r\n")
				if r.status != http.StatusOK || r.body != "body until close" {
					t.Errorf("request %d: %d %q, want 200 and the body read until close", i, r.status, r.body)
				}
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("origin asked %d times, want 1: the response was not stored", n)
			}
			if r := rawExchange(t, addr, "GET /next HTTP/1.1\r\nHost: h\r\n\r\n"); r.body != "good" || o.connections() != 2 {
				t.Errorf("next: %d %q after %d connections, want good on a second connection", r.status, r.body, o.connections())
			}
		})
	}
}

// TestHostileOriginFieldNames: a response field whose name is not a token
// (RFC 9110 §5.1), which Go's client accepts, is not stored or passed on.
func TestHostileOriginFieldNames(t *testing.T) {
	o := newRawOrigin(t, func(string) (string, bool) {
		return "HTTP/1.1 200 OK\r\nX Bad: 1\r\nCache-Control: max-age=60\r\nContent-Length: 2\r\n\r\nok", false
	})
	e := newEdge(t, newClock(), edgeConfig{upstream: "http://" + o.ln.Addr().String()})
	for range 2 {
		r := rawExchange(t, hostAddr(e.URL), "GET /f HTTP/1.1\r\nHost: h\r\n\r\n")
		if _, ok := r.header["X Bad"]; ok || r.status != http.StatusOK {
			t.Errorf("status %d, header %q: want 200 without \"X Bad\"", r.status, r.header)
		}
	}
}

// The allocation-free Connection and Via parsing answers exactly as the
// strings.ToLower and strings.Fields forms it replaced, whatever the input.
func TestHeaderListParsingMatchesReference(t *testing.T) {
	options := map[string]bool{"": true, "close": true, "keep-alive": true, "te": true, "connection": true}
	for _, name := range []string{"", "close", "Close", "CLOSE", "Keep-Alive", "keep-alive", "KEEP-ALIVE", "\u212aeep-alive",
		"cloſe", "TE", "te", "tE", "Connection", "X-Foo", "keep-aliveX", "İ", "connectİon", "c\x00lose", "\xff"} {
		if got, want := connectionOption(name), options[strings.ToLower(name)]; got != want {
			t.Errorf("connectionOption(%q) = %v, want %v", name, got, want)
		}
	}
	for _, hop := range []string{"", " ", "1.1", "1.1 edged", " 1.1   edged  (comment) ", "1.1\tedged", "1.1\u00a0edged x",
		"HTTP/1.1 a b c", "1.1\u2003edged", "\xff \xfe"} {
		want := ""
		if f := strings.Fields(hop); len(f) >= 2 {
			want = f[1]
		}
		if got := receivedBy(hop); got != want {
			t.Errorf("receivedBy(%q) = %q, want %q", hop, got, want)
		}
	}
}

// TestHostileRequestRangeNotForwardedOnFill: Apache httpd (2.4 included)
// reads Request-Range, a pre-standard spelling of Range, when Range is
// absent. A client's Request-Range on a miss made such an origin answer the
// shared fill with a 206 of its range: not stored, sent to that client, and
// every request collapsed onto the fill then fetched on its own (20 misses,
// 21 origin fetches, none stored), so one request at the moment a popular
// object expires or is purged turned coalescing off for it. A fill is sent
// without it, as without Range; the client is answered from the whole.
func TestHostileRequestRangeNotForwardedOnFill(t *testing.T) {
	c := newClock()
	release := newGate()
	body := strings.Repeat("x", 100)
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		release.wait()
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("Etag", `"v1"`)
		rr := r.Header.Get("Range")
		if rr == "" {
			rr = r.Header.Get("Request-Range") // as Apache httpd's byterange filter
		}
		if rr == "bytes=0-4" {
			w.Header().Set("Content-Range", "bytes 0-4/100")
			w.WriteHeader(http.StatusPartialContent)
			_, _ = io.WriteString(w, body[:5])
			return
		}
		_, _ = io.WriteString(w, body)
	})
	t.Cleanup(release.open)
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	addr := strictEdge(t, e)

	const waiters = 10
	leader := make(chan rawResponse, 1)
	go func() {
		leader <- rawExchange(t, addr, "GET /hot HTTP/1.1\r\nHost: h\r\nRequest-Range: bytes=0-4\r\n\r\n")
	}()
	waitFor(t, func() bool { return o.requests.Load() == 1 }) // the leader's fill is at the origin
	var wg sync.WaitGroup
	got := make(chan rawResponse, waiters)
	for range waiters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got <- rawExchange(t, addr, "GET /hot HTTP/1.1\r\nHost: h\r\n\r\n")
		}()
	}
	waitJoined(t, e, waiters)
	release.open()
	wg.Wait()
	close(got)
	if r := <-leader; r.status != http.StatusOK || r.body != body {
		t.Errorf("client with Request-Range: %d %q, want the whole 200", r.status, r.body)
	}
	for r := range got {
		if r.status != http.StatusOK || r.body != body {
			t.Errorf("waiter: %d %q (%s), want the whole 200", r.status, r.body, r.header.Get("Cache-Status"))
		}
	}
	if n := o.requests.Load(); n != 1 {
		t.Errorf("origin fetched %d times for one object, want 1", n)
	}
	if r := rawExchange(t, addr, "GET /hot HTTP/1.1\r\nHost: h\r\n\r\n"); !strings.Contains(r.header.Get("Cache-Status"), "hit") {
		t.Errorf("after the fill: %s, want a hit", r.header.Get("Cache-Status"))
	}
}

// TestHostileVaryOnNodeWrittenField: a response varying on a field the
// node writes per client or per request before the origin reads it is not
// stored. X-Forwarded-For: the origin saw the client's address (appended by
// the node) and made its page for it ("Vary: X-Forwarded-For", a page of
// the client's region or address); the cache selected the variant by the
// client's own field, which most clients do not send, and served the page
// made for 127.0.0.1 to a client at 127.0.0.2. X-Request-Id: one variant
// stored per request, never selected again.
func TestHostileVaryOnNodeWrittenField(t *testing.T) {
	for _, field := range []string{"X-Forwarded-For", "X-Request-Id"} {
		t.Run(field, func(t *testing.T) {
			c := newClock()
			o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "public, max-age=300")
				w.Header().Set("Vary", field)
				_, _ = io.WriteString(w, "for "+r.Header.Get("X-Forwarded-For"))
			})
			e := newEdge(t, c, edgeConfig{upstream: o.URL})
			addr := strictEdge(t, e)
			for _, from := range []string{"127.0.0.1", "127.0.0.2"} {
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
				conn, err := d.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := io.WriteString(conn, "GET /region HTTP/1.1\r\nHost: h\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				conn.Close()
				if string(body) != "for "+from {
					t.Errorf("client at %s got %q (%s), want its own page", from, body, resp.Header.Get("Cache-Status"))
				}
				if cs := resp.Header.Get("Cache-Status"); strings.Contains(cs, "stored") || strings.Contains(cs, "hit") {
					t.Errorf("client at %s: Cache-Status %q, want the response not stored", from, cs)
				}
			}
		})
	}
}

// gzipByAcceptEncoding is an origin that gzips plain when the forwarded
// Accept-Encoding names gzip, as nginx's gzip module does, with the given
// Cache-Control and Vary ("" sends none).
func gzipByAcceptEncoding(plain, cacheControl, vary string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", cacheControl)
		if vary != "" {
			w.Header().Set("Vary", vary)
		}
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			_, _ = io.WriteString(zw, plain)
			_ = zw.Close()
			return
		}
		_, _ = io.WriteString(w, plain)
	}
}

// TestHostileEncodingWithoutVary: an origin that compresses by the
// forwarded Accept-Encoding but forgets "Vary: Accept-Encoding" (nginx's
// gzip_vary is off by default) is kept apart per Accept-Encoding. Before,
// one client's "Accept-Encoding: gzip" (or any coding the origin offers)
// stored a gzip body every later client was served, those that cannot
// decode it too (no Accept-Encoding: curl, most API clients).
func TestHostileEncodingWithoutVary(t *testing.T) {
	c := newClock()
	plain := strings.Repeat("plain text ", 50)
	o := newOrigin(t, c, gzipByAcceptEncoding(plain, "public, max-age=300", ""))
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	addr := strictEdge(t, e)
	if r := rawExchange(t, addr, "GET /asset HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\n\r\n"); r.header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip client: Content-Encoding %q, want the origin's gzip", r.header.Get("Content-Encoding"))
	}
	r := rawExchange(t, addr, "GET /asset HTTP/1.1\r\nHost: h\r\n\r\n")
	if r.header.Get("Content-Encoding") != "" || r.body != plain {
		t.Errorf("client without Accept-Encoding: Content-Encoding %q, body %q... (%s), want the plain body",
			r.header.Get("Content-Encoding"), r.body[:min(len(r.body), 16)], r.header.Get("Cache-Status"))
	}
	r = rawExchange(t, addr, "GET /asset HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\n\r\n")
	if r.header.Get("Content-Encoding") != "gzip" || !strings.Contains(r.header.Get("Cache-Status"), "hit") {
		t.Errorf("second gzip client: Content-Encoding %q, Cache-Status %q; want the stored gzip variant",
			r.header.Get("Content-Encoding"), r.header.Get("Cache-Status"))
	}
	if v := r.header.Values("Vary"); !slices.Contains(v, "Accept-Encoding") {
		t.Errorf("Vary %q, want Accept-Encoding", v)
	}
}

// TestHostileAcceptEncodingSprayKeepsBrowserVariant: 64 made-up
// Accept-Encoding values for a URL whose origin varies on the field do not
// fill its variant cap. Before, each spelling was a variant of its own, and
// after them a browser's "gzip, deflate, br" was passed to the origin, not
// stored (detail=too-many-variants), for the rest of the 10-minute window.
// The origin sees the normal form the variants are keyed by.
func TestHostileAcceptEncodingSprayKeepsBrowserVariant(t *testing.T) {
	c := newClock()
	plain := strings.Repeat("plain text ", 50)
	var mu sync.Mutex
	seen := map[string]bool{} // Accept-Encoding values the origin was sent
	serve := gzipByAcceptEncoding(plain, "public, max-age=600", "Accept-Encoding")
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Header.Get("Accept-Encoding")] = true
		mu.Unlock()
		serve(w, r)
	})
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	addr := strictEdge(t, e)
	for i := 1; i <= maxVariants; i++ {
		r := rawExchange(t, addr, fmt.Sprintf("GET /asset HTTP/1.1\r\nHost: h\r\nAccept-Encoding: junk%d\r\n\r\n", i))
		if r.body != plain {
			t.Fatalf("junk%d: body %q..., want the plain body", i, r.body[:min(len(r.body), 16)])
		}
	}
	const browser = "GET /asset HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip, deflate, br\r\n\r\n"
	r := rawExchange(t, addr, browser)
	if cs := r.header.Get("Cache-Status"); r.header.Get("Content-Encoding") != "gzip" || !strings.Contains(cs, "stored") {
		t.Fatalf("browser after the spray: Content-Encoding %q, Cache-Status %q; want gzip, stored", r.header.Get("Content-Encoding"), cs)
	}
	if r = rawExchange(t, addr, browser); !strings.Contains(r.header.Get("Cache-Status"), "hit") {
		t.Errorf("second browser: Cache-Status %q, want a hit", r.header.Get("Cache-Status"))
	}
	mu.Lock()
	defer mu.Unlock()
	for v := range seen {
		if v != "identity" && v != "br, gzip" {
			t.Errorf("origin was sent Accept-Encoding %q, want only normal forms", v)
		}
	}
}

// TestHostileOversizedHeaderErrorNotShared: a cache-poisoned denial of
// service (CPDoS, Nguyen et al. 2019, "HTTP Header Oversize"). The origin,
// like nginx, refuses a field over 8 KiB, which edged (64 KiB) forwards;
// its error carries explicit freshness, or gets the route's default_ttl.
// The next client without the field must get the page, not the stored
// error. Before, 400, 413 and 431 with max-age were stored, and any status
// without freshness fields got a route's default_ttl: one request made a
// URL answer 400 to everyone for that lifetime.
func TestHostileOversizedHeaderErrorNotShared(t *testing.T) {
	c := newClock()
	var mu sync.Mutex
	flaky := map[string]bool{} // paths that answered their one 500 already
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		status, _ := strconv.Atoi(r.URL.Query().Get("status"))
		for _, lines := range r.Header {
			for _, v := range lines {
				if len(v) > 8<<10 { // nginx's large_client_header_buffers
					if r.URL.Query().Has("maxage") {
						w.Header().Set("Cache-Control", "max-age=600")
					}
					w.WriteHeader(status)
					_, _ = io.WriteString(w, "refused")
					return
				}
			}
		}
		mu.Lock()
		first := !flaky[r.URL.RequestURI()]
		flaky[r.URL.RequestURI()] = true
		mu.Unlock()
		if r.URL.Query().Has("flaky") && first {
			w.WriteHeader(http.StatusInternalServerError) // a passing failure, no caching fields
			_, _ = io.WriteString(w, "refused")
			return
		}
		if r.URL.Query().Has("maxage") {
			w.Header().Set("Cache-Control", "max-age=600")
		}
		_, _ = io.WriteString(w, "page")
	})
	up := upstreamTo(t, o.URL)
	e := routedEdge(t, c, &Site{Name: "s", Hosts: []string{"s.example"}, Routes: []*Route{
		{PathPrefix: "/", Upstream: up},
		{PathPrefix: "/ttl/", Upstream: up, Cache: RouteCache{DefaultTTL: time.Hour}},
	}})
	big := strings.Repeat("x", 9<<10)
	for _, path := range []string{
		"/a?status=400&maxage", "/a?status=413&maxage", "/a?status=431&maxage",
		"/ttl/a?status=400", "/ttl/a?status=431", "/ttl/a?flaky",
	} {
		attack := []string{"Host", "s.example", "X-Oversized-Header", big}
		if strings.Contains(path, "flaky") {
			attack = attack[:2] // the origin fails on its own
		}
		resp, body := e.get(t, path, attack...)
		if body != "refused" {
			t.Fatalf("%s: the attacker got %d %q, want the origin's error", path, resp.StatusCode, body)
		}
		resp, body = e.get(t, path, "Host", "s.example")
		if resp.StatusCode != http.StatusOK || body != "page" {
			t.Errorf("%s: the next client got %d %q (%s), want the page", path, resp.StatusCode, body, resp.Header.Get("Cache-Status"))
		}
	}
}

// TestHostileVariantSprayKeepsBrowserVariant: the Vary variants of a URL
// are capped (variants.go), and a client that sends made-up values of a
// field the origin varies on (User-Agent, Accept-Language, Cookie) used to
// fill the cap for 10 minutes: every browser's new value then passed to the
// origin uncached (detail=too-many-variants) for the rest of the window.
// Now a new variant replaces the least used one, never one used more than
// itself: the browser's value is stored on its first request and hit on
// the next, a variant that browsers used before the spray stays a hit, and
// the URL never holds more than the cap.
func TestHostileVariantSprayKeepsBrowserVariant(t *testing.T) {
	for _, tt := range []struct {
		field, popular, browser, spray string
	}{
		{"User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
			"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36", "junk-agent-%d"},
		{"Accept-Language", "en-US,en;q=0.5", "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7", "x-junk%d"},
		{"Cookie", "theme=dark", "theme=light", "junk=%d"},
	} {
		t.Run(tt.field, func(t *testing.T) {
			c := newClock()
			var fetches sync.Map // value → *atomic.Int64, origin fetches per value
			o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
				v := r.Header.Get(tt.field)
				n, _ := fetches.LoadOrStore(v, new(atomic.Int64))
				n.(*atomic.Int64).Add(1)
				w.Header().Set("Cache-Control", "public, max-age=600")
				w.Header().Set("Vary", tt.field)
				_, _ = io.WriteString(w, "for "+v)
			})
			e := newEdge(t, c, edgeConfig{upstream: o.URL})
			addr := strictEdge(t, e)
			get := func(v string) rawResponse {
				t.Helper()
				r := rawExchange(t, addr, "GET /page HTTP/1.1\r\nHost: h\r\n"+tt.field+": "+v+"\r\n\r\n")
				if r.body != "for "+v {
					t.Fatalf("%s %q: body %q", tt.field, v, r.body)
				}
				return r
			}
			// A variant browsers use: stored, then hit twice.
			for range 3 {
				get(tt.popular)
			}
			for i := range 2*maxVariants + 10 {
				get(fmt.Sprintf(tt.spray, i))
			}
			if r := get(tt.popular); !strings.Contains(r.header.Get("Cache-Status"), "hit") {
				t.Errorf("the variant used before the spray: Cache-Status %q, want a hit", r.header.Get("Cache-Status"))
			}
			if r := get(tt.browser); !strings.Contains(r.header.Get("Cache-Status"), "stored") {
				t.Errorf("a browser's new value after the spray: Cache-Status %q, want stored", r.header.Get("Cache-Status"))
			}
			if r := get(tt.browser); !strings.Contains(r.header.Get("Cache-Status"), "hit") {
				t.Errorf("the browser's value again: Cache-Status %q, want a hit", r.header.Get("Cache-Status"))
			}
			for _, v := range []string{tt.popular, tt.browser} {
				if n, _ := fetches.Load(v); n.(*atomic.Int64).Load() != 1 {
					t.Errorf("origin fetched %q %d times, want once", v, n.(*atomic.Int64).Load())
				}
			}
			assertVariantsCapped(t, e, "http://h/page")
		})
	}
}

// The variant counts are memory only. After a restart a variant on disk is
// served, and counted as it is hit, so a spray after the restart does not
// replace one that browsers keep asking for; a purge of the URL keeps the
// counts, so the popular variant is stored again on its next request.
func TestHostileVariantSprayAfterRestartAndPurge(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Vary", "User-Agent")
		_, _ = io.WriteString(w, "for "+r.Header.Get("User-Agent"))
	})
	dir := t.TempDir()
	site := []string{"Host", "www.example.com"} // the restarted edge listens on another port
	get := func(e *testEdge, ua string) *http.Response {
		t.Helper()
		resp, body := e.get(t, "/page", append(site, "User-Agent", ua)...)
		if body != "for "+ua {
			t.Fatalf("%q: body %q", ua, body)
		}
		return resp
	}
	const browser = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
	e := newEdge(t, c, edgeConfig{upstream: o.URL, dir: dir})
	get(e, browser)
	e.store.Flush()
	e.stop()

	e = newEdge(t, c, edgeConfig{upstream: o.URL, dir: dir})
	for i := range 2 {
		if resp := get(e, browser); !isHit(resp) {
			t.Fatalf("after the restart, request %d: Cache-Status %q, want a hit from disk", i+1, resp.Header.Get("Cache-Status"))
		}
	}
	for i := range 2*maxVariants + 10 {
		get(e, fmt.Sprint("junk-agent-", i))
	}
	if resp := get(e, browser); !isHit(resp) {
		t.Errorf("after the restart and the spray: Cache-Status %q, want a hit", resp.Header.Get("Cache-Status"))
	}
	applyPurge(t, e, storage.Purge{Keys: []string{"http://www.example.com/page"}})
	if resp := get(e, browser); !strings.Contains(resp.Header.Get("Cache-Status"), "stored") {
		t.Errorf("after a purge: Cache-Status %q, want stored", resp.Header.Get("Cache-Status"))
	}
	if resp := get(e, browser); !isHit(resp) {
		t.Errorf("after a purge, again: Cache-Status %q, want a hit", resp.Header.Get("Cache-Status"))
	}
}

// A variant admitted as its head arrives (a streamed fill) and replaced by
// another before its body is whole must not be stored when it ends: the
// count then had it as replaced while the store kept it, and the URL held
// one variant more than the cap for each such fill, untracked (never
// replaced again), so a client that kept slow fills running stored as many
// variants per URL as it liked. Each must also land in the cap's count: a
// variant stored is one the counter can replace.
func TestHostileVariantReplacedWhileFilling(t *testing.T) {
	c := newClock()
	slow := newGate()
	t.Cleanup(slow.open)
	headSent := make(chan struct{}, 1)
	slowPad := strings.Repeat(".", streamFromBytes)
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		ua := r.Header.Get("User-Agent")
		body := "for " + ua
		w.Header().Set("Cache-Control", "public, max-age=600")
		w.Header().Set("Vary", "User-Agent")
		if ua != "slow" {
			_, _ = io.WriteString(w, body)
			return
		}
		writeInTwo(w, body+slowPad, headSent, slow) // long enough to be streamed (streamFromBytes)
	})
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	get := func(ua string) *http.Response {
		t.Helper()
		resp, body := e.get(t, "/page", "User-Agent", ua)
		if body != "for "+ua {
			t.Fatalf("%q: body %q", ua, body)
		}
		return resp
	}
	for i := range maxVariants {
		get(fmt.Sprint("agent-", i))
	}
	// The slow variant's head arrives: admitted, in place of agent-0.
	req, err := http.NewRequest(http.MethodGet, e.URL+"/page", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", "slow")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	<-headSent
	// Every other variant used once more: the slow one is the least used,
	// and a new variant takes its place while its body still arrives.
	for i := 1; i < maxVariants; i++ {
		if r := get(fmt.Sprint("agent-", i)); !isHit(r) {
			t.Fatalf("agent-%d: Cache-Status %q, want a hit", i, r.Header.Get("Cache-Status"))
		}
	}
	get("new")
	slow.open()
	if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "for slow"+slowPad {
		t.Fatalf("slow variant: %q, %v", b, err)
	}
	// Its head went out before it was replaced, and must not have claimed
	// a store that did not happen (RFC 9211 §2.6).
	if cs := resp.Header.Get("Cache-Status"); strings.Contains(cs, "stored") {
		t.Errorf("slow variant, replaced while filling: Cache-Status %q, want no stored", cs)
	}
	e.settle(t)
	assertVariantsCapped(t, e, "http://"+strings.TrimPrefix(e.URL, "http://")+"/page")
}

// assertVariantsCapped checks that e's store holds at most maxVariants
// variants of url once its writes have landed.
func assertVariantsCapped(t *testing.T, e *testEdge, url string) {
	t.Helper()
	e.store.Flush()
	held, _, err := e.store.Family(url, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if variants := len(held) - 1; variants > maxVariants { // less the Vary index
		t.Errorf("%d variants stored, want at most %d", variants, maxVariants)
	}
}

// The variant counts are bounded (maxVariantBytes), and a URL forgotten
// starts its counts over. Forgetting the least recently used URL let a
// client choose which: requests for variants of other URLs, with long
// values, pushed a popular URL out, its variant's count started over at
// the next hit, and made-up values sent no more often replaced it. Now
// the URL forgotten is the least used of the least recently used ones:
// the popular variant keeps its count and stays a hit. (The budget is
// made small here so that a few hundred requests fill it; 64 MiB took
// some 1,250 requests with 60 KiB User-Agent values.)
func TestHostileVariantBookkeepingFlood(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=600")
		w.Header().Set("Vary", "User-Agent")
		_, _ = io.WriteString(w, "ok")
	})
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	e.handler.variants.limit = 256 << 10 // 16 KiB a shard
	get := func(path, ua string) *http.Response {
		t.Helper()
		resp, body := e.get(t, path, "User-Agent", ua)
		if body != "ok" {
			t.Fatalf("%s %q: body %q", path, ua, body)
		}
		return resp
	}
	const browser = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
	for range 20 {
		get("/page", browser)
	}
	long := strings.Repeat("x", 1<<10)
	for i := range 600 { // about 650 KiB of bookkeeping, 40 KiB a shard
		get(fmt.Sprint("/other", i), long)
	}
	if r := get("/page", browser); !isHit(r) {
		t.Fatalf("the popular variant after the flood: Cache-Status %q, want a hit", r.Header.Get("Cache-Status"))
	}
	for i := range maxVariants {
		get("/page", fmt.Sprint("junk-agent-", i))
	}
	if r := get("/page", browser); !isHit(r) {
		t.Errorf("the popular variant after the flood and a spray: Cache-Status %q, want a hit", r.Header.Get("Cache-Status"))
	}
}
