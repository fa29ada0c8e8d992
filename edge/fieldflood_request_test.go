package edge

import (
	"bufio"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"edged/edge/policy"
	"edged/internal/httpsyntax"
)

// A request of more than httpsyntax.MaxRequestFieldLines field lines is answered 431 by
// the node and never forwarded. Before, a head within
// server.max_header_bytes of thousands of one-letter fields was parsed,
// copied for the upstream request and held while its miss waited: some
// 0.6 MiB per request of 56 KiB, outside every budget of cache.memory.
func TestHostileRequestFieldFloodRefused(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static("ok", "Cache-Control", "max-age=60"))
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	send := func(fields int) *http.Response {
		t.Helper()
		conn, err := net.Dial("tcp", strings.TrimPrefix(e.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		var b strings.Builder
		fmt.Fprintf(&b, "GET /f%d HTTP/1.1\r\nHost: 127.0.0.1\r\n", fields)
		for i := range fields { // beside Host, which net/http takes out of the header
			fmt.Fprintf(&b, "a%d: 1\r\n", i)
		}
		b.WriteString("\r\n")
		if _, err := conn.Write([]byte(b.String())); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := send(httpsyntax.MaxRequestFieldLines + 1)
	wantStatus(t, resp, http.StatusRequestHeaderFieldsTooLarge, policy.DetailBadRequest)
	resp = send(20 * httpsyntax.MaxRequestFieldLines)
	wantStatus(t, resp, http.StatusRequestHeaderFieldsTooLarge, policy.DetailBadRequest)
	if n := o.requests.Load(); n != 0 {
		t.Errorf("origin got %d requests, want none", n)
	}
	resp = send(httpsyntax.MaxRequestFieldLines)
	wantStatus(t, resp, http.StatusOK, "stored")
}

// Over HTTP/2 a browser sends each cookie as a field of its own (RFC 9113
// §8.2.3); net/http joins them into one Cookie line, so 300 cookies are
// one field line, never refused, and the pseudo-header fields are not
// counted. 300 fields of other names are 431 as over HTTP/1.1.
func TestRequestFieldLinesOverHTTP2(t *testing.T) {
	o := newOrigin(t, newClock(), static("ok", "Cache-Control", "max-age=60"))
	e := serveEdge(t, Options{Upstream: upstreamTo(t, o.URL), Now: newClock().Now}, func(srv *httptest.Server) {
		srv.EnableHTTP2 = true
		srv.StartTLS()
	})
	get := func(p string, fields map[string][]string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, e.Server.URL+p, nil)
		if err != nil {
			t.Fatal(err)
		}
		maps.Copy(req.Header, fields)
		resp, err := e.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("served over %s, want HTTP/2", resp.Proto)
		}
		return resp
	}
	cookies := make([]string, 300)
	for i := range cookies {
		cookies[i] = fmt.Sprintf("c%d=%d", i, i)
	}
	// The client splits the one Cookie line into 300 cookie fields.
	if resp := get("/cookies", map[string][]string{"Cookie": {strings.Join(cookies, "; ")}}); resp.StatusCode != http.StatusOK {
		t.Errorf("300 cookies over HTTP/2: %d, want 200", resp.StatusCode)
	}
	many := map[string][]string{}
	for i := range httpsyntax.MaxRequestFieldLines + 1 {
		many[fmt.Sprintf("A%d", i)] = []string{"1"}
	}
	if resp := get("/many", many); resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("%d fields over HTTP/2: %d, want 431", httpsyntax.MaxRequestFieldLines+1, resp.StatusCode)
	}
}
