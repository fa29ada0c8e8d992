package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"edged/bench/report"
	"edged/bench/stats"
)

// connectProxy is the least CONNECT proxy (RFC 9110 §9.3.6) there is, to
// test the tunnel measurement's plumbing.
func connectProxy(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		dst, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer dst.Close()
		w.WriteHeader(http.StatusOK)
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		_ = brw.Flush()
		go func() { _, _ = io.Copy(dst, brw) }()
		_, _ = io.Copy(c, dst)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func TestTunnelRate(t *testing.T) {
	sink, err := startTunnelSink()
	if err != nil {
		t.Fatal(err)
	}
	defer sink.close()
	ctx := context.Background()
	for _, proxy := range []string{"", connectProxy(t)} {
		mbps, err := tunnelRate(ctx, proxy, sink.addr(), 2, 100*time.Millisecond)
		if err != nil || mbps <= 0 {
			t.Errorf("proxy %q: %.1f MB/s, %v", proxy, mbps, err)
		}
	}
	if _, err := tunnelRate(ctx, connectProxy(t), "127.0.0.1:1", 1, time.Second); err == nil {
		t.Error("a refused CONNECT measured a rate")
	}
}

// TestForwardChecks: the three goals read the right rows, and a
// skipped edged forward skips them with its reason.
func TestForwardChecks(t *testing.T) {
	row := func(sc, target string, rps float64) report.Row {
		return report.Row{Scenario: sc, Target: target, RPS: stats.Spread{Median: rps, Min: rps, Max: rps, N: 1}}
	}
	res := &results{rows: []report.Row{
		row(fwdHitScenario(1<<10, 64), tSquid, 20000), row(fwdHitScenario(1<<10, 64), tEdgedForward, 30000),
		row(fwdHitScenario(100<<10, 64), tSquid, 2000), row(fwdHitScenario(100<<10, 64), tEdgedForward, 5000),
	}}
	f := &forwardFleet{
		proxies: []*target{{name: tSquid}, {name: tEdgedForward}},
		tunnelMBps: map[string]map[int]stats.Spread{
			tDirect:       {1: {Median: 1000}},
			tEdgedForward: {1: {Median: 950}},
		},
	}
	b := &bench{}
	var got []string
	for _, c := range b.forwardChecks(f, res) {
		got = append(got, fmt.Sprintf("%s: %s met=%v", c.Name, c.Got, c.Met))
	}
	want := []string{
		"forward proxy 1 KiB hit, 64 conns: throughput: 1.50× Squid met=true",
		"forward proxy 100 KiB hit, 64 conns: throughput: 2.50× Squid met=false",
		"CONNECT tunnel throughput, 1 stream: 0.95× direct met=true",
	}
	if !slices.Equal(got, want) {
		t.Errorf("checks:\n got %q\nwant %q", got, want)
	}

	f.proxies[1].skip = "no forward role"
	for _, c := range b.forwardChecks(f, res) {
		if !strings.Contains(c.Skipped, "no forward role") {
			t.Errorf("%s: Skipped = %q, want edged forward's reason", c.Name, c.Skipped)
		}
	}
}
