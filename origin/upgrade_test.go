package origin

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// An Outbound with Upgrade is sent with Connection: Upgrade and its
// Upgrade (the client's own were hop-by-hop and removed); a 101 answer's
// body is the connection, usable both ways, and closing it ends the
// exchange. Without Upgrade, the client's Upgrade never reaches the server.
func TestUpgrade(t *testing.T) {
	got := make(chan http.Header, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		if r.Header.Get("Upgrade") == "" {
			_, _ = io.WriteString(w, "plain")
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		_ = brw.Flush()
		line, _ := brw.ReadString('\n')
		_, _ = io.WriteString(conn, "echo "+line)
	}))
	t.Cleanup(srv.Close)
	c := newTestClient(t, Options{Origin: srv.URL})
	clientHeader := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"h2c"}}

	resp, err := c.Do(context.Background(), &Outbound{RequestURI: "/", Header: clientHeader})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if h := <-got; h.Get("Upgrade") != "" || resp.StatusCode != http.StatusOK {
		t.Errorf("without Outbound.Upgrade: server saw Upgrade %q, status %d", h.Get("Upgrade"), resp.StatusCode)
	}

	resp, err = c.Do(context.Background(), &Outbound{RequestURI: "/", Header: clientHeader, Upgrade: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	if h := <-got; h.Get("Upgrade") != "echo" || h.Get("Connection") != "Upgrade" {
		t.Errorf("server saw Connection %q, Upgrade %q; want Upgrade, echo", h.Get("Connection"), h.Get("Upgrade"))
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	rw, ok := resp.Body.(io.ReadWriter)
	if !ok {
		t.Fatalf("101 body %T is not writable", resp.Body)
	}
	if _, err := io.WriteString(rw, "hello\n"); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(rw).ReadString('\n')
	if err != nil || line != "echo hello\n" {
		t.Errorf("read %q, %v", line, err)
	}
	resp.Body.Close()
	if n := c.pool.servers[0].inFlight.Load(); n != 0 {
		t.Errorf("in flight after Close: %d, want 0", n)
	}
	if _, err := c.Do(context.Background(), &Outbound{RequestURI: "/", Upgrade: "bad proto"}); err == nil {
		t.Error("an invalid upgrade token was sent")
	}
}
