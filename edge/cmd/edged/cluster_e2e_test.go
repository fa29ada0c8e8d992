package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"edged/edge/config"
)

// clusterFleet is the fleet of the cluster test: its nodes, their configs
// (to restart one as it was) and their applies.
type clusterFleet struct {
	t      *testing.T
	cfgs   map[string]*config.Config
	nodes  map[string]*fleetNode
	names  []string // shields first, then edges
	log    *applyLog
	origin *httptest.Server
}

func (f *clusterFleet) startNode(name string) {
	f.t.Helper()
	cfg := *f.cfgs[name]
	f.nodes[name] = serveNode(f.t, &cfg, f.log)
}

// publish posts body to the purge API of the first node in order that
// takes it and returns its sequence: while a NATS server is down, a node
// connected to it answers 503 (nothing published) until it has moved to
// another server.
func (f *clusterFleet) publish(order []string, body string) uint64 {
	f.t.Helper()
	seq, err := f.tryPublish(order, body)
	if err != nil {
		f.t.Fatal(err)
	}
	return seq
}

// tryPublish is publish for a goroutine other than the test's.
func (f *clusterFleet) tryPublish(order []string, body string) (uint64, error) {
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		n := f.nodes[order[i%len(order)]]
		req, _ := http.NewRequest(http.MethodPost, n.admin+"/purge", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+purgeToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		var ans struct {
			Seq   uint64 `json:"seq"`
			Error string `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&ans)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK:
			return ans.Seq, nil
		case resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline):
			return 0, fmt.Errorf("purge %s through %s: %d %s", body, order[i%len(order)], resp.StatusCode, ans.Error)
		}
	}
}

// purgeBodies are one purge of each kind selecting the objects of round r,
// hard or soft.
func purgeBodies(r int, soft bool) []string {
	s := fmt.Sprintf(`,"soft":%t`, soft)
	return []string{
		fmt.Sprintf(`{"urls":["http://www.example.com/r%d/a"]%s}`, r, s),
		fmt.Sprintf(`{"prefixes":["http://www.example.com/r%d/"]%s}`, r, s),
		fmt.Sprintf(`{"tags":["round-%d"]%s}`, r, s),
		fmt.Sprintf(`{"hosts":["r%d.example.com"]%s}`, r, s),
		fmt.Sprintf(`{"all":true%s}`, s),
	}
}

// Issue 18: a fleet of five edges and two shields on a three-server NATS
// cluster (the purge stream replicated three ways, file storage, sync
// always; nodes authenticated by nkey), each node connected to its own
// server. Purges of every kind, hard and soft, while the cluster is
// healthy, while one NATS server is down and back, and while one edge is
// down and back: every node applies every purge exactly once, in stream
// order, none lost. The test reports the propagation p99 across the seven
// nodes and the catch-up times; it asserts only generous bounds on them.
func TestPurgeOnNATSCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-server NATS cluster and seven nodes; skipped with -short")
	}
	seedFile, pub := nkeyUser(t)
	cluster := startNATSCluster(t, 3, pub)

	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		round, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/r"), "/")
		w.Header().Set("Surrogate-Key", "round-"+round)
		fmt.Fprintf(w, "body of %s%s", r.Host, r.URL.Path)
	}))
	t.Cleanup(origin.Close)

	f := &clusterFleet{t: t, cfgs: map[string]*config.Config{}, nodes: map[string]*fleetNode{}, log: newApplyLog(), origin: origin}
	var shieldURLs []string
	for i := range 7 {
		name := fmt.Sprintf("edge%d", i-2)
		if i < 2 {
			name = fmt.Sprintf("shield%d", i)
		}
		cfg := nodeConfig(t, name, t.TempDir())
		// Each node is given its own server of the cluster (it learns the
		// others from it, as NATS clients do, and moves to one of them
		// when its own dies); shield1 is given all three, in a list.
		cfg.Purge.NATS.URLs = []string{cluster.url(i % 3)}
		if name == "shield1" {
			cfg.Purge.NATS.URLs = []string{cluster.url(0), cluster.url(1), cluster.url(2)}
		}
		cfg.Purge.NATS.NKeySeed = seedFile
		cfg.Purge.NATS.Replicas = 3
		cfg.Purge.Token = purgeToken
		cfg.Log.Access.Off, cfg.Log.Level = true, "debug" // "purge applied" is a debug line
		if i < 2 {
			cfg.Role = config.RoleShield
			cfg.Upstream.Origin = origin.URL
		} else {
			cfg.Upstream.Shields = shieldURLs
			cfg.Upstream.ShieldFallback = false
		}
		if err := cfg.Check(); err != nil {
			t.Fatal(err)
		}
		f.cfgs[name], f.names = cfg, append(f.names, name)
		f.startNode(name)
		if i < 2 {
			shieldURLs = append(shieldURLs, f.nodes[name].public)
		}
	}

	f.checkSpread()
	last := f.healthyRounds(20)
	last = f.serverDeath(cluster, 0, last)
	last = f.edgeRestart("edge4", last)
	f.checkExactlyOnce(last)
}

// checkSpread checks that the nodes use the three servers.
func (f *clusterFleet) checkSpread() {
	t := f.t
	servers := map[string]bool{}
	for _, name := range f.names {
		h := f.nodes[name].n.bus.Health()
		if !h.Connected {
			t.Fatalf("%s not connected: %+v", name, h)
		}
		servers[h.Server] = true
	}
	if len(servers) != 3 {
		t.Errorf("nodes connected to %d servers (%v), want 3", len(servers), servers)
	}
}

// healthyRounds runs rounds purges while the cluster is healthy: each
// round fills its objects on every edge (and, through them, on the
// shields), then purges them with one kind, hard or soft; every edge's
// apply must have found its object. It reports the propagation and
// returns the last sequence.
func (f *clusterFleet) healthyRounds(rounds int) uint64 {
	t := f.t
	edges := f.names[2:]
	var worst, delivered, took []time.Duration // per round, the slowest node's
	var last uint64
	for r := range rounds {
		body := purgeBodies(r, r%2 == 1)[r%5]
		host := "www.example.com"
		if strings.Contains(body, `"hosts"`) {
			host = fmt.Sprintf("r%d.example.com", r)
		}
		for _, e := range edges {
			resp, _ := fetch(t, f.nodes[e].public+fmt.Sprintf("/r%d/a", r), "Host", host)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET on %s: %d", e, resp.StatusCode)
			}
		}
		seq := f.publish([]string{edges[r%5]}, body)
		if seq != last+1 {
			t.Fatalf("round %d: purge got seq %d, want %d", r, seq, last+1)
		}
		last = seq
		f.log.waitApplied(t, f.names, seq, 20*time.Second)
		var roundMax, roundDelivered, roundTook time.Duration
		var lags []string
		for _, name := range f.names {
			recs := f.log.records(name)
			rec := recs[len(recs)-1]
			roundMax = max(roundMax, rec.Lag)
			roundDelivered, roundTook = max(roundDelivered, rec.Delivered), max(roundTook, rec.Took)
			lags = append(lags, fmt.Sprintf("%s %v (delivered %v, apply %v)", name, rec.Lag.Round(time.Millisecond),
				rec.Delivered.Round(time.Millisecond), rec.Took.Round(time.Millisecond)))
			if strings.HasPrefix(name, "edge") && rec.Objects < 1 {
				t.Errorf("round %d (%s): %s purged %d objects, want at least its own copy", r, body, name, rec.Objects)
			}
		}
		worst = append(worst, roundMax)
		delivered, took = append(delivered, roundDelivered), append(took, roundTook)
		if roundMax > 500*time.Millisecond {
			// An outlier: say which nodes were late, for whoever reads it.
			t.Logf("round %d (%s): slow propagation: %s", r, body, strings.Join(lags, ", "))
		}
	}
	p50, p99 := percentiles(worst)
	dp50, dp99 := percentiles(delivered)
	tp50, tp99 := percentiles(took)
	t.Logf("purge propagation while healthy, publish to the last of 7 nodes applied, over %d purges: p50 %v, p99 %v, max %v; "+
		"of which delivery (publish to the consumer's hand-over) p50 %v, p99 %v, and apply p50 %v, p99 %v",
		len(worst), p50, p99, worst[len(worst)-1], dp50, dp99, tp50, tp99)
	f.log.mu.Lock()
	t.Logf("sessions restarted because a consumer never got its pull request: %d; sessions failed and retried: %d",
		f.log.lostPulls, f.log.failedSessions)
	f.log.mu.Unlock()
	// Generous: the goal is 10ms; on a loaded 2-core machine it
	// is measured and reported, not asserted (an fsync queued behind other
	// processes' was seen to hold one apply for 1.9s). This only catches a
	// purge that did not propagate by itself.
	if p99 > 10*time.Second {
		t.Errorf("propagation p99 %v, want well under 10s", p99)
	}
	return last
}

// percentiles sorts d and returns its p50 and p99.
func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	slices.Sort(d)
	return d[len(d)/2], d[(len(d)*99+99)/100-1]
}

// publishOrder is whom the fault phases ask to purge: first nodes on
// servers that stay up.
var publishOrder = []string{"edge0", "edge2", "edge3", "edge1"}

// serverDeath kills NATS server killed while purges are being made and
// starts it again: the nodes on it move to the others, the stream (R3)
// keeps its quorum, nothing is lost. Each kind is made hard and soft
// across the fault: while the server dies the kinds alternate hard,
// soft, hard...; after it is back, the reverse.
func (f *clusterFleet) serverDeath(cluster *natsCluster, killed int, last uint64) uint64 {
	t := f.t
	var bodies []string
	for i := range 10 {
		bodies = append(bodies, purgeBodies(100+i/5, (i%5+i/5)%2 == 1)[i%5])
	}
	// Two are published while the server shuts down, three once it is
	// gone.
	type published struct {
		seq  uint64
		took time.Duration
		err  error
	}
	results := make(chan published, 5)
	dead := make(chan struct{})
	go func() {
		for i, b := range bodies[:5] {
			if i == 2 {
				<-dead
			}
			start := time.Now()
			seq, err := f.tryPublish(publishOrder, b)
			results <- published{seq, time.Since(start), err}
			if err != nil {
				return
			}
		}
	}()
	killedAt := time.Now()
	cluster.stop(killed)
	close(dead)
	var took []time.Duration
	for range 5 {
		p := <-results
		if p.err != nil {
			t.Fatal(p.err)
		}
		last, took = p.seq, append(took, p.took)
	}
	f.log.waitApplied(t, f.names, last, 60*time.Second)
	// Two missed consumer heartbeats (1s each) and the stream's election:
	// about 2s. Before the bus managed its own consumer, nats.go's ordered
	// consumer recreated itself with 10s per attempt and held a node up
	// to 11s in one run of eight; 8s leaves room for a loaded machine.
	if d := time.Since(killedAt); d > 8*time.Second {
		t.Errorf("the nodes took %v to apply the purges made as n%d died, want under 8s", d, killed)
	}
	t.Logf("NATS server n%d killed mid-purge: the 5 purges made during and after its shutdown took %v to be accepted; every node applied them %v after the shutdown began",
		killed, took, time.Since(killedAt))
	cluster.start(killed)
	restartedAt := time.Now()
	took = took[:0]
	for _, b := range bodies[5:] {
		start := time.Now()
		last = f.publish(publishOrder, b)
		took = append(took, time.Since(start))
	}
	f.log.waitApplied(t, f.names, last, 60*time.Second)
	t.Logf("NATS server n%d restarted: 5 more purges took %v to be accepted; every node applied them %v after the restart", killed, took, time.Since(restartedAt))
	return last
}

// edgeRestart stops edge, makes purges of every kind, hard and soft, and
// starts it again: it applies what it missed before serving, from where
// it stopped.
func (f *clusterFleet) edgeRestart(edge string, last uint64) uint64 {
	t := f.t
	f.nodes[edge].stop()
	for _, b := range append(purgeBodies(200, true), purgeBodies(201, false)...) {
		last = f.publish(publishOrder, b)
	}
	f.log.waitApplied(t, slices.DeleteFunc(slices.Clone(f.names), func(n string) bool { return n == edge }), last, 30*time.Second)
	restart := time.Now()
	f.startNode(edge)
	t.Logf("%s restarted: start returned, 10 missed purges applied, in %v", edge, time.Since(restart))
	if h := f.nodes[edge].n.bus.Health(); h.Applied != last {
		t.Errorf("%s serves before it caught up: %+v, want applied %d", edge, h, last)
	}
	return last
}

// checkExactlyOnce checks that every node applied every event exactly
// once, in stream order, the same events everywhere, none a stand-in for
// lost events, and that /healthz says so.
func (f *clusterFleet) checkExactlyOnce(last uint64) {
	t := f.t
	want := f.log.records("edge0")
	for _, name := range f.names {
		recs := f.log.records(name)
		if len(recs) != int(last) {
			t.Errorf("%s applied %d events, want %d", name, len(recs), last)
		}
		for i, rec := range recs {
			if rec.Seq != uint64(i+1) || rec.ID == "gap" || (i < len(want) && rec.ID != want[i].ID) {
				t.Errorf("%s: apply %d is seq %d id %s, want seq %d id %s", name, i, rec.Seq, rec.ID, i+1, want[min(i, len(want)-1)].ID)
				break
			}
		}
		// What a node says of the stream's last sequence between two
		// probes of the stream may come from a consumer's pending count,
		// which can be too high (purge/health.go, answered): once asked,
		// the stream says every node is caught up. A probe comes every
		// max_lag/3 (10s by default).
		wantLine := fmt.Sprintf("applied %d of stream %d", last, last)
		deadline := time.Now().Add(15 * time.Second)
		for {
			body := healthz(t, f.nodes[name])
			if strings.Contains(body, wantLine) && !strings.Contains(body, "warning") {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s /healthz = %q, want %q and no warning", name, body, wantLine)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// Issue 18: a node that cannot reach the purge stream for longer than
// purge.max_lag says so in /healthz (still 200: it serves) and in
// edged_purge_behind, names the server it uses while connected, and stops
// warning once it is back.
func TestHealthzSaysWhenThePurgeBusIsBehind(t *testing.T) {
	seedFile, pub := nkeyUser(t)
	nats := startNATSCluster(t, 1, pub)
	cfg := nodeConfig(t, "edge", t.TempDir())
	cfg.Upstream.Origin = "http://127.0.0.1:1"
	cfg.Purge.NATS.URLs = []string{nats.url(0)}
	cfg.Purge.NATS.NKeySeed = seedFile
	cfg.Purge.MaxLag = config.Duration(200 * time.Millisecond)
	f := startFleetNode(t, cfg)
	if body := healthz(t, f); !strings.Contains(body, "purge bus: connected to "+nats.url(0)+" (n0), applied 0 of stream 0, 0 reconnects\n") || strings.Contains(body, "warning") {
		t.Fatalf("/healthz = %q", body)
	}
	nats.stop(0)
	waitUntil(t, func() bool {
		return strings.Contains(healthz(t, f), "warning: purge bus behind: purge stream out of reach")
	})
	if _, metrics := fetch(t, f.admin+"/metrics"); !strings.Contains(metrics, "\nedged_purge_behind 1\n") {
		t.Errorf("edged_purge_behind is not 1 while the bus is behind")
	}
	nats.start(0)
	waitUntil(t, func() bool {
		body := healthz(t, f)
		return strings.Contains(body, "connected to") && strings.Contains(body, "1 reconnects") && !strings.Contains(body, "warning")
	})
}
