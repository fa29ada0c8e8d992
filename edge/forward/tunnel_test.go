package forward

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// echoServer echoes every connection's bytes until the peer closes.
func echoServer(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// openTunnel sends CONNECT (with extra bytes right behind it, as a client
// that does not wait for the 200 would) and returns the connection once
// the 200 is read.
func openTunnel(t testing.TB, s *stack, port int, early string) (net.Conn, *http.Response, io.Reader) {
	t.Helper()
	resp, conn, br := s.raw(t, fmt.Sprintf("CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n%s", port, port, early))
	return conn, resp, br
}

// TestTunnelEchoAndCounts: bytes a client sends before the 200 arrives are
// not lost (net/http's buffer and the strict framer hand them over), and
// the log line counts what went each way.
func TestTunnelEchoAndCounts(t *testing.T) {
	port := echoServer(t)
	s := newStack(t, stackConfig{opts: Options{ConnectPorts: ports(port)}})
	conn, resp, br := openTunnel(t, s, port, "early;")
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	if _, err := io.WriteString(conn, "late"); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len("early;late"))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "early;late" {
		t.Fatalf("echo %q, %v", got, err)
	}
	conn.(*net.TCPConn).CloseWrite()
	if rest, _ := io.ReadAll(br); len(rest) != 0 {
		t.Errorf("after the echo: %q", rest)
	}
	line := s.logs.WaitLines(t, "tunnel", 1)[0]
	if line["bytes_in"] != float64(10) || line["bytes_out"] != float64(10) || line["port"] != float64(port) {
		t.Errorf("tunnel log = %v, want 10 bytes each way", line)
	}
}

// TestTunnelLimits: a client's tunnels are capped; an idle tunnel and one
// open too long are closed, and the log says why.
func TestTunnelLimits(t *testing.T) {
	port := echoServer(t)
	s := newStack(t, stackConfig{opts: Options{ConnectPorts: ports(port), MaxTunnelsPerClient: 1, TunnelIdle: 100 * time.Millisecond}})
	first, resp, br := openTunnel(t, s, port, "")
	if resp.StatusCode != 200 {
		t.Fatalf("first: %d", resp.StatusCode)
	}
	_, resp, _ = openTunnel(t, s, port, "")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get(RuleHeader) != "tunnels" {
		t.Errorf("second tunnel from one client: %d %q, want 429 tunnels", resp.StatusCode, resp.Header.Get(RuleHeader))
	}
	// Idle: nothing moves, the proxy closes the first tunnel.
	if _, err := io.ReadAll(br); err != nil {
		t.Errorf("idle tunnel ended with %v, want EOF", err)
	}
	first.Close()
	if reason := s.logs.WaitLines(t, "tunnel", 2)[1]["reason"]; !strings.Contains(fmt.Sprint(reason), "idle") {
		t.Errorf("reason %v, want idle", reason)
	}
	// The slot is free again.
	if _, resp, _ := openTunnel(t, s, port, ""); resp.StatusCode != 200 {
		t.Errorf("after the first closed: %d", resp.StatusCode)
	}

	long := newStack(t, stackConfig{opts: Options{ConnectPorts: ports(port), TunnelMax: 150 * time.Millisecond}})
	conn, resp, br := openTunnel(t, long, port, "")
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	// Keep it busy so idleness cannot be why it ends.
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				if _, err := io.WriteString(conn, "x"); err != nil {
					return
				}
			}
		}
	}()
	_, _ = io.Copy(io.Discard, br)
	close(stop)
	if reason := long.logs.WaitLines(t, "tunnel", 1)[0]["reason"]; !strings.Contains(fmt.Sprint(reason), "time limit") {
		t.Errorf("reason %v, want the time limit", reason)
	}
}

// TestTunnelLimitIPv6: the attack of an IPv6 client on
// forward.tunnels.max_per_client: it may send from any address of its
// /64, and the cap counted each address on its own, so it held as many
// tunnels as addresses it used. A client is counted by its /64, as the
// rules' limits count it. The addresses come from PROXY headers (a load
// balancer in front, server.proxy_protocol): the test's sockets have only
// ::1.
func TestTunnelLimitIPv6(t *testing.T) {
	port := echoServer(t)
	s := newStack(t, stackConfig{proxyProtocol: true, opts: Options{
		ConnectPorts: ports(port), MaxTunnelsPerClient: 1,
		Clients: []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")},
	}})
	open := func(client string) *http.Response {
		resp, _, _ := s.raw(t, fmt.Sprintf("PROXY TCP6 %s ::1 40000 3128\r\nCONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", client, port, port))
		return resp
	}
	if resp := open("2001:db8:5:5::1"); resp.StatusCode != http.StatusOK {
		t.Fatalf("first tunnel: %d", resp.StatusCode)
	}
	for _, client := range []string{"2001:db8:5:5::2", "2001:db8:5:5:ffff::1"} {
		if resp := open(client); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get(RuleHeader) != "tunnels" {
			t.Errorf("tunnel from %s, another address of the /64: %d %q, want 429 tunnels", client, resp.StatusCode, resp.Header.Get(RuleHeader))
		}
	}
	if resp := open("2001:db8:5:6::1"); resp.StatusCode != http.StatusOK {
		t.Errorf("tunnel from another /64: %d, want 200", resp.StatusCode)
	}
}

// TestRefusedConnectCloses: bytes a client sends after a CONNECT, before
// its answer, are meant for the tunnel; when the CONNECT is refused (a
// port not allowed, 407) they must not be read as a request to the proxy.
// On the old code the connection stayed open and the request pipelined
// behind the refused CONNECT reached the origin.
func TestRefusedConnectCloses(t *testing.T) {
	o := newOrigin(t, false, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	s := newStack(t, stackConfig{})
	behind := "GET " + o.URL + "/behind HTTP/1.1\r\nHost: " + o.Listener.Addr().String() + "\r\n\r\n"
	resp, conn, br := s.raw(t, "CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n"+behind)
	if resp.StatusCode != http.StatusForbidden || !resp.Close {
		t.Fatalf("CONNECT to a port not allowed: %d, close %v; want 403 and the connection closed", resp.StatusCode, resp.Close)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Errorf("after the refusal: %q, %v; want the connection closed", rest, err)
	}
	if n := o.count(); n != 0 {
		t.Errorf("the request behind the refused CONNECT reached the origin (%d requests)", n)
	}
}
