package origin

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The servers in quarantine are bounded (maxQuarantined): a forward
// proxy's servers are its clients' choice, and each server that sent a
// byte too many used to stay in the map for good (an entry left only when
// a request to the same address came after its quarantine ended). The
// most recent offender is still in quarantine.
func TestQuarantineBounded(t *testing.T) {
	old := maxQuarantined
	maxQuarantined = 32
	t.Cleanup(func() { maxQuarantined = old })
	c := newTestClient(t, Options{Direct: true})
	const servers = 100
	var last string
	for range servers {
		ln := serveTCP(t, 10*time.Second, func(conn net.Conn) {
			if _, err := http.ReadRequest(bufio.NewReader(conn)); err != nil {
				return
			}
			// Two bytes past the body's Content-Length, in the same write.
			_, _ = io.WriteString(conn, okResponse+"XX")
			_, _ = io.Copy(io.Discard, conn)
		})
		last = ln.Addr().String()
		resp, err := c.Do(context.Background(), &Outbound{Method: http.MethodGet, Host: last, Proto: "http", RequestURI: "/", Key: last})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.HasPrefix(string(body), "ok") {
			t.Fatalf("%s: body %q", last, body)
		}
	}
	g := c.transport.guard
	g.mu.Lock()
	n := len(g.until)
	g.mu.Unlock()
	if n > maxQuarantined || n == 0 {
		t.Errorf("%d servers in quarantine after %d offended, want 1 to %d", n, servers, maxQuarantined)
	}
	if !g.quarantined(last) {
		t.Errorf("the last server to offend, %s, is not in quarantine", last)
	}
}
