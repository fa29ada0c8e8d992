package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// echoListener is a TCP server on 127.0.0.1 that sends back what it
// reads, on each connection: a tunnel's destination.
func echoListener(t testing.TB) net.Listener {
	t.Helper()
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Close() })
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return echo
}

// TestReloadKeepsOpenTunnels: a reload that changes forward.rules leaves a
// CONNECT tunnel opened under the old rules carrying bytes both ways
// (docs/forward.md: "open tunnels are not cut"), which is why rules apply
// on reload rather than on a restart.
func TestReloadKeepsOpenTunnels(t *testing.T) {
	echo := echoListener(t)
	_, port, _ := net.SplitHostPort(echo.Addr().String())

	dir := t.TempDir()
	path := filepath.Join(dir, "forward.yaml")
	conf := fmt.Sprintf("role: forward\nlisten: 127.0.0.1:0\nadmin: 127.0.0.1:0\ndata: %s\nlog: {level: error, access: false}\n"+
		"forward:\n  connect_ports: [%q]\n  dial: {allow_networks: [127.0.0.1/32]}\n"+
		"  rules:\n    list:\n      - {name: no-blocked, action: deny, domains: [blocked.test]}\n", filepath.Join(dir, "data"), port)
	writeBytes(t, path, []byte(conf))
	f := serveConfigFile(t, path)

	conn, err := net.Dial("tcp", strings.TrimPrefix(f.public, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %[1]s\r\n\r\n", echo.Addr())
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT: %v %v, want 200", resp, err)
	}
	roundTrip := func(msg string) {
		t.Helper()
		if _, err := io.WriteString(conn, msg); err != nil {
			t.Fatalf("write %q through the tunnel: %v", msg, err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != msg {
			t.Fatalf("echo of %q through the tunnel: %q, %v", msg, got, err)
		}
	}
	roundTrip("before")

	writeBytes(t, path, []byte(strings.Replace(conf, "blocked.test", "other.test", 1)))
	if err := f.n.reload(); err != nil {
		t.Fatalf("reload changing forward.rules: %v", err)
	}
	roundTrip("after the reload")
}
