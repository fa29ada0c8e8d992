package edge

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// rawHead sends a request for path to addr on a connection of its own and
// returns the response's status and head fields as they came, read without
// http.ReadResponse, which turns "Pragma: no-cache" without Cache-Control
// into "Cache-Control: no-cache" itself.
func rawHead(t testing.TB, addr, method, path string) (int, textproto.MIMEHeader) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, method+" "+path+" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	tp := textproto.NewReader(bufio.NewReader(conn))
	line, err := tp.ReadLine()
	if err != nil {
		t.Fatalf("read status line: %v", err)
	}
	var proto string
	var code int
	if _, err := fmt.Sscan(line, &proto, &code); err != nil {
		t.Fatalf("status line %q: %v", line, err)
	}
	h, err := tp.ReadMIMEHeader()
	if err != nil {
		t.Fatalf("read head: %v", err)
	}
	return code, h
}

// TestResponsePragmaIsNotCacheControl: a response with "Pragma: no-cache"
// and no Cache-Control is stored and reused by its heuristic freshness
// (RFC 9111 §5.4: Pragma has no meaning in a response), and clients get
// it without a Cache-Control the origin never sent, directly and through
// a shield.
func TestResponsePragmaIsNotCacheControl(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static("pragma", "Pragma", "no-cache", "Last-Modified", httpDate(c.Now().Add(-100*24*time.Hour))))
	shield := newEdge(t, c, edgeConfig{name: "edged-shield", upstream: o.URL, shield: true})
	direct := newEdge(t, c, edgeConfig{upstream: o.URL})
	viaShield := newEdge(t, c, edgeConfig{shields: []string{shield.URL}})
	for _, e := range []struct {
		name string
		edge *testEdge
	}{{"direct", direct}, {"via shield", viaShield}} {
		before := o.requests.Load()
		for i, method := range []string{http.MethodHead, http.MethodGet, http.MethodGet} {
			code, h := rawHead(t, e.edge.Listener.Addr().String(), method, "/p")
			if code != http.StatusOK {
				t.Errorf("%s: %s %d: status %d", e.name, method, i, code)
			}
			if v, ok := h["Cache-Control"]; ok {
				t.Errorf("%s: %s %d: Cache-Control %q, want none (Cache-Status %q)", e.name, method, i, v, h.Get("Cache-Status"))
			}
			if got := h.Get("Pragma"); got != "no-cache" {
				t.Errorf("%s: %s %d: Pragma %q, want no-cache", e.name, method, i, got)
			}
			if i > 0 && !strings.HasPrefix(strings.TrimPrefix(lastMember(h.Get("Cache-Status")), "edged"), "; hit") {
				t.Errorf("%s: %s %d: Cache-Status %q, want a hit", e.name, method, i, h.Get("Cache-Status"))
			}
			e.edge.store.Flush()
		}
		if n := o.requests.Load() - before; e.name == "direct" && n != 1 {
			t.Errorf("%s: the origin saw %d requests, want 1", e.name, n)
		}
	}
	if n := o.requests.Load(); n != 2 {
		t.Errorf("the origin saw %d requests in all, want 2 (one per cache)", n)
	}
}

// lastMember is the last member of a Cache-Status list.
func lastMember(v string) string {
	if i := strings.LastIndex(v, ", "); i >= 0 {
		return v[i+2:]
	}
	return v
}
