package edge

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
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
