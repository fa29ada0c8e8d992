package forward

import (
	"bytes"
	"io"
	"net"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"edged/edge/ratelimit"
	"edged/internal/rawio"
)

// TestTunnelSpliced: without a bandwidth limit a tunnel takes the
// zero-copy path (the spliced counter says so), the client's early bytes
// still arrive first, and the log counts every byte both ways.
func TestTunnelSpliced(t *testing.T) {
	port := echoServer(t)
	s := newStack(t, stackConfig{opts: Options{ConnectPorts: ports(port)}})
	conn, resp, br := openTunnel(t, s, port, "early;")
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	go func() {
		_, _ = conn.Write(payload)
		_ = conn.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte("early;"), payload...)
	if !bytes.Equal(got, want) {
		t.Fatalf("echoed %d bytes, want %d (first %.20q)", len(got), len(want), got)
	}
	line := s.logs.WaitLines(t, "tunnel", 1)[0]
	n := float64(len(want))
	if line["bytes_in"] != n || line["bytes_out"] != n {
		t.Errorf("tunnel log = %v, want %v bytes each way", line, n)
	}
	if got := testutil.ToFloat64(s.proxy.metrics.spliced); got != 1 {
		t.Errorf("spliced tunnels = %v, want 1", got)
	}
}

// TestTCPOfUnwrapsLimitListener: the public listener's connection-cap
// wrapper does not keep a tunnel off the spliced path.
func TestTCPOfUnwrapsLimitListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := ratelimit.LimitListener(inner, 1)
	defer ln.Close()
	d, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := rawio.TCPOf(c); !ok {
		t.Errorf("TCPOf(%T) found no *net.TCPConn", c)
	}
}
