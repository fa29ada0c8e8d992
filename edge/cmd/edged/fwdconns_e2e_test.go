package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// openTunnel sends CONNECT dest on a new connection to proxy and reads
// the answer, within timeout; the status is 0 when none came.
func openTunnel(proxy, dest string, timeout time.Duration) (*tunnel, int, error) {
	c, err := net.DialTimeout("tcp", proxy, 10*time.Second)
	if err != nil {
		return nil, 0, err
	}
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %[1]s\r\n\r\n", dest); err != nil {
		c.Close()
		return nil, 0, err
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return &tunnel{conn: c, br: br}, 0, err
	}
	_ = c.SetDeadline(time.Time{})
	return &tunnel{conn: c, br: br}, resp.StatusCode, nil
}

// busyEcho sends msg through the tunnel and reads it back, within 20 s.
func (tn *tunnel) busyEcho(msg string) error {
	_ = tn.conn.SetDeadline(time.Now().Add(20 * time.Second))
	defer tn.conn.SetDeadline(time.Time{})
	return tn.echoes(msg)
}

// TestForwardHoldsItsTunnels runs the binary in role forward with
// cache.memory 32MiB and server.max_connections unset, and opens as many
// CONNECT tunnels as the cap derived from it, each moving 32 KiB both ways
// twice: 512 relayed by splice(2) (32MiB / config.ForwardConnectionMemory),
// and 204 under a bandwidth limit, relayed through two 32 KiB buffers each
// (32MiB / config.ForwardLimitedConnectionMemory). Every one is held, the
// node stays within cache.memory + 10%, and one client more waits, counted
// and logged, until a tunnel ends, when it is answered. Before, the forward
// role counted a connection as the edge role does (256 KiB): the 129th
// tunnel waited while the first 128 were busy, and an office's browsers
// hung.
func TestForwardHoldsItsTunnels(t *testing.T) {
	for _, tc := range []struct {
		name, rules string
		max         int
	}{
		{"spliced", "", 512},
		{"limited", "  rules: {limits: {bandwidth: 1GiB}}\n", 204},
	} {
		t.Run(tc.name, func(t *testing.T) { testForwardHoldsItsTunnels(t, tc.rules, tc.max) })
	}
}

func testForwardHoldsItsTunnels(t *testing.T, rules string, max int) {
	echo := echoListener(t)
	_, port, _ := net.SplitHostPort(echo.Addr().String())
	cfg := writeFile(t, "forward.yaml", fmt.Sprintf(`
role: forward
listen: 127.0.0.1:0
admin: 127.0.0.1:0
data: %s
log: {level: info, access: false}
cache: {memory: 32MiB}
forward:
  connect_ports: [%s]
  dial: {allow_networks: [127.0.0.1/32]}
  tunnels: {max_per_client: 0}
%s`, t.TempDir(), port, rules))
	p := runEdged(t, "-config", cfg)
	if p.public == "" {
		t.Fatalf("edged exited at start (%v)", p.exitErr)
	}
	if got := metricValue(t, p.admin, "edged_connections_max"); int(got) != max {
		t.Fatalf("edged_connections_max = %v, want %d", got, max)
	}
	pid := p.cmd.Process.Pid
	rest := rssAnon(pid)
	peak := sampleRSS(t, pid)
	proxy := strings.TrimPrefix(p.public, "http://")
	dest := echo.Addr().String()

	tunnels := make([]*tunnel, max)
	defer func() {
		for _, tn := range tunnels {
			if tn != nil {
				tn.conn.Close()
			}
		}
	}()
	msg := strings.Repeat("t", 32<<10)
	var wg sync.WaitGroup
	errs := make(chan error, max)
	sem := make(chan struct{}, 16)
	for i := range max {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			tn, status, err := openTunnel(proxy, dest, 20*time.Second)
			if tn != nil {
				tunnels[i] = tn
			}
			if err != nil || status != http.StatusOK {
				errs <- fmt.Errorf("tunnel %d: status %d, %v", i, status, err)
				return
			}
			if err := tn.busyEcho(msg); err != nil {
				errs <- fmt.Errorf("tunnel %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if failed++; failed <= 3 {
			t.Error(err)
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d tunnels not held at the default cap", failed, max)
	}
	if got := metricValue(t, p.admin, "edged_forward_tunnels_open"); got >= 0 && int(got) != max {
		t.Errorf("edged_forward_tunnels_open = %v, want %d", got, max)
	}
	// Every tunnel moves bytes again, all at once: their buffers in use.
	for _, tn := range tunnels {
		wg.Go(func() {
			if err := tn.busyEcho(msg); err != nil {
				t.Errorf("second echo: %v", err)
			}
		})
	}
	wg.Wait()

	// A client past the cap, every slot a busy tunnel: nothing is closed
	// to make room, so it waits in the backlog, and the node says so.
	type answer struct {
		tn     *tunnel
		status int
		err    error
	}
	late := make(chan answer, 1)
	go func() {
		tn, status, err := openTunnel(proxy, dest, 30*time.Second)
		late <- answer{tn, status, err}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for metricValue(t, p.admin, "edged_connections_waits_total") < 1 {
		if time.Now().After(deadline) {
			t.Fatal("edged_connections_waits_total stayed 0 with a client past the cap")
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case a := <-late:
		t.Fatalf("a client past the cap was answered %d (%v) while every tunnel was busy", a.status, a.err)
	default:
	}
	if !strings.Contains(p.stderr.String(), "server.max_connections reached") {
		t.Errorf("no log line says the cap was reached; stderr:\n%s", p.stderr)
	}
	if got := peak(); got > 32<<20*11/10 {
		t.Errorf("peak anonymous RSS %.1f MiB with %d busy tunnels, want at most %.1f MiB (cache.memory + 10%%; %.1f MiB at rest)", mib(got), max, mib(32<<20*11/10), mib(rest))
	}
	t.Logf("%d tunnels, each 2 × 32 KiB moved twice: peak anonymous RSS %.1f MiB, %.1f MiB at rest", max, mib(peak()), mib(rest))

	// A tunnel ends: the waiting client is answered and its tunnel works.
	tunnels[0].conn.Close()
	tunnels[0] = nil
	a := <-late
	if a.tn != nil {
		defer a.tn.conn.Close()
	}
	if a.err != nil || a.status != http.StatusOK {
		t.Fatalf("the waiting client, once a tunnel ended: status %d, %v; want 200", a.status, a.err)
	}
	if err := a.tn.busyEcho(msg); err != nil {
		t.Errorf("the late tunnel: %v", err)
	}
}
