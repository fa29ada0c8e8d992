package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"edged/edge/config"
)

// Two nodes on one NATS server share a route's rate limit: a client that
// spreads its requests over both spends one budget, not one per node.
func TestRateLimitSharedAcrossFleet(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(origin.Close)
	natsAddr := freeAddr(t)
	t.Setenv(natsTokenEnv, "fleet-nats-token")
	const burst = 10
	const fastRate, fastBurst = 20, 5
	nodeCfg := func(name, nats string) *config.Config {
		// rate: one token every 1000s, so only the burst counts.
		y := fmt.Sprintf(`name: %s
listen: 127.0.0.1:0
admin: 127.0.0.1:0
data: %s
pools:
  web: {servers: [{url: %s}]}
purge:
  nats: {%s, token_env: %s}
sites:
  - name: api
    hosts: [www.example.com]
    routes:
      - {path: /, pool: web, rate_limit: {rate: 0.001, burst: %d, key: "header:X-Client", shared: true}}
      - {path: /fast/, pool: web, rate_limit: {rate: %d, burst: %d, key: "header:X-Client", shared: true}}
`, name, t.TempDir(), origin.URL, nats, natsTokenEnv, burst, fastRate, fastBurst)
		cfg, err := config.Parse([]byte(y), "edged.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	a := startFleetNode(t, nodeCfg("a", "listen: "+natsAddr))
	b := startFleetNode(t, nodeCfg("b", "url: nats://"+natsAddr))
	nodes := []*fleetNode{a, b}
	statusAt := func(f *fleetNode, path, client string) int {
		resp, _ := fetch(t, f.public+path, "Host", "www.example.com", "X-Client", client)
		if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
		return resp.StatusCode
	}
	status := func(f *fleetNode, client string) int { return statusAt(f, "/x", client) }
	// Event-driven: wait until a node has taken the other's reported use.
	waitApplied := func(f *fleetNode, n uint64) {
		t.Helper()
		waitUntil(t, func() bool { return f.n.share.Applied() >= n })
	}

	// In turns: 4 on a, then b (once it knows) admits only the 6 left.
	for i := range 4 {
		if s := status(a, "c1"); s != http.StatusOK {
			t.Fatalf("request %d on a: %d", i, s)
		}
	}
	waitApplied(b, 4)
	admitted := 0
	for range burst {
		if status(b, "c1") == http.StatusOK {
			admitted++
		}
	}
	if admitted != burst-4 {
		t.Errorf("b admitted %d after a's 4, want %d (one budget of %d)", admitted, burst-4, burst)
	}
	waitApplied(a, uint64(burst-4))
	if s := status(a, "c1"); s != http.StatusTooManyRequests {
		t.Errorf("a after the fleet spent the budget: %d, want 429", s)
	}

	// Hammered on both at once: reports lag, so the fleet may admit more
	// than one budget, but never more than one per node (no refill).
	applied := []uint64{a.n.share.Applied(), b.n.share.Applied()}
	var ok [2]atomic.Uint64
	var wg sync.WaitGroup
	for i, f := range nodes {
		wg.Go(func() {
			for range 2 * burst {
				if status(f, "c2") == http.StatusOK {
					ok[i].Add(1)
				}
			}
		})
	}
	wg.Wait()
	total := ok[0].Load() + ok[1].Load()
	if total < burst || total > 2*burst {
		t.Errorf("hammered on two nodes: %d admitted, want %d to %d", total, burst, 2*burst)
	}
	t.Logf("hammered on two nodes: %d+%d admitted for a budget of %d", ok[0].Load(), ok[1].Load(), burst)
	// Once each has taken the other's use, both refuse.
	waitApplied(a, applied[0]+ok[1].Load())
	waitApplied(b, applied[1]+ok[0].Load())
	for i, f := range nodes {
		if s := status(f, "c2"); s != http.StatusTooManyRequests {
			t.Errorf("node %d after the hammering was shared: %d, want 429", i, s)
		}
	}
	// Hammered for a while, with refill: about one budget (burst + rate ×
	// time), well under the two a node each would give. The bound allows
	// for the reports' lag (rate × nodes × interval) and a loaded machine.
	var fast atomic.Uint64
	began := time.Now()
	for _, f := range nodes {
		wg.Go(func() {
			for time.Since(began) < 1500*time.Millisecond {
				if statusAt(f, "/fast/x", "c4") == http.StatusOK {
					fast.Add(1)
				}
			}
		})
	}
	wg.Wait()
	budget := fastBurst + fastRate*time.Since(began).Seconds()
	got := float64(fast.Load())
	t.Logf("hammered for %v on two nodes: %v admitted for a fleet budget of %.0f (%.0f without sharing)", time.Since(began).Round(time.Millisecond), got, budget, 2*budget)
	if got < 0.8*(budget-fastBurst) || got > 1.5*budget {
		t.Errorf("hammered with refill: %v admitted, want about one budget of %.0f (0.8x to 1.5x)", got, budget)
	}
	// A client with its own key is untouched.
	if s := status(b, "c3"); s != http.StatusOK {
		t.Errorf("another client: %d", s)
	}
}

// TestRateLimitIPv6Prefix is the attack of an IPv6 client that holds a
// /48 (what RFC 6177 suggests a site gets) on a route's rate limit: each
// of its 65,536 /64s was a client of its own, a budget each, and nothing
// let the operator count it whole. rate_limit.ipv6_prefix does; the
// default stays the /64. The addresses come from a trusted proxy's
// X-Forwarded-For: the test's sockets have only ::1.
func TestRateLimitIPv6Prefix(t *testing.T) {
	o := namedOrigin(t, "o")
	p := runSites(t, fmt.Sprintf(`server:
  trusted_proxies: [127.0.0.1]
pools:
  o: {servers: [{url: %s}]}
sites:
  - name: s
    hosts: [s.test]
    routes:
      - {path: /, pool: o, rate_limit: {rate: 0.001, burst: 1}}
      - {path: /wide/, pool: o, rate_limit: {rate: 0.001, burst: 1, ipv6_prefix: 48}}
`, o.URL))
	status := func(path, client string) int {
		resp, _ := fetch(t, p.public+path, "Host", "s.test", "X-Forwarded-For", client)
		return resp.StatusCode
	}
	for _, tt := range []struct {
		path, client string
		want         int
	}{
		{"/wide/a", "2001:db8:9::1", http.StatusOK},
		{"/wide/a", "2001:db8:9:1::1", http.StatusTooManyRequests}, // another /64 of the /48
		{"/wide/a", "2001:db8:9:ffff::1", http.StatusTooManyRequests},
		{"/wide/a", "2001:db8:a::1", http.StatusOK}, // another /48
		{"/a", "2001:db8:9::1", http.StatusOK},
		{"/a", "2001:db8:9::2", http.StatusTooManyRequests}, // the default: the /64
		{"/a", "2001:db8:9:1::1", http.StatusOK},
	} {
		if got := status(tt.path, tt.client); got != tt.want {
			t.Errorf("%s from %s: %d, want %d", tt.path, tt.client, got, tt.want)
		}
	}
}
