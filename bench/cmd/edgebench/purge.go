package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"edged/bench/report"
	"edged/bench/stats"
	"edged/bench/targets"
)

// purgeHost is the Host every purge-scenario request carries: the cache
// key includes the host, so the three nodes must see the same one.
const purgeHost = "bench.example"

func discard(resp *http.Response) (int64, error) {
	defer resp.Body.Close()
	return io.Copy(io.Discard, resp.Body)
}

// originCount is the test origin's /_stats answer.
type originCount struct {
	Total int64 `json:"total"`
	Path  int64 `json:"path"`
}

func originStats(ctx context.Context, base, path string) (originCount, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/_stats?path="+path, nil)
	if err != nil {
		return originCount{}, err
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return originCount{}, fmt.Errorf("origin stats: %w", err)
	}
	defer resp.Body.Close()
	var c originCount
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		return originCount{}, fmt.Errorf("origin stats: %w", err)
	}
	return c, nil
}

// postPurge asks admin to purge url and returns the status code.
func (b *bench) postPurge(ctx context.Context, admin, url string) (int, error) {
	body := fmt.Sprintf(`{"urls":[%q]}`, url)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, admin+"/purge", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+b.o.token)
	resp, err := probeClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("POST /purge: %w", err)
	}
	_, _ = discard(resp)
	return resp.StatusCode, nil
}

// isHitAt fetches path from t with the shared purge Host, with the extra
// request header fields hdr ("Name", "value" pairs).
func isHitAt(ctx context.Context, t *target, path string, hdr ...string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.base+path, nil)
	if err != nil {
		return false, err
	}
	req.Host = purgeHost
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return false, err
	}
	_, _ = discard(resp)
	return edgedHit(resp.Header), nil
}

func (b *bench) runPurge(ctx context.Context, res *results) error {
	const title = "Purge propagation across 3 nodes"
	logf("scenario: purge propagation")
	extra := ""
	if b.o.purgeYAML != "" {
		x, err := os.ReadFile(b.o.purgeYAML)
		if err != nil {
			return fmt.Errorf("-purge-yaml: %w", err)
		}
		extra = string(x)
	}
	nats, err := targets.FreeAddr()
	if err != nil {
		return err
	}
	// By default node 0's embedded NATS accepts the other two: the fleet
	// shares one bus with no separate NATS server.
	nodeYAML := func(i int) string {
		if extra != "" {
			return strings.NewReplacer("{{NODE}}", strconv.Itoa(i), "{{NATS}}", nats).Replace(extra)
		}
		// Loopback only, so the bus may go without a NATS token; events are
		// still signed with the purge token.
		bus := "    listen: " + nats + "\n    allow_unauthenticated: true"
		if i > 0 {
			bus = "    url: nats://" + nats
		}
		return fmt.Sprintf("purge:\n  token: %q\n  nats:\n%s\n", b.o.token, bus)
	}
	m, err := b.measurePurge(ctx, "purge", 3, nodeYAML)
	if err != nil {
		return err
	}
	res.purgeSkip = m.skip
	res.purgeP99 = msf(m.lat.P99)
	res.sections = append(res.sections, report.Section{Title: title, Lines: m.lines(3, "")})
	return nil
}

// purgeMeasure is what measurePurge found.
type purgeMeasure struct {
	lat     stats.Latencies
	n       int
	notSeen int
	skip    string // why nothing was measured
}

// lines describes m for the report; where says what the nodes share.
func (m purgeMeasure) lines(nodes int, where string) []string {
	if m.skip != "" {
		return []string{"skipped: " + m.skip}
	}
	lines := []string{fmt.Sprintf("%d purges posted to node 0%s; latency = from sending the POST until all %d nodes stop answering hits for the URL (each node probed on its own from then on, `only-if-cached`): p50 %.2f ms, p99 %.2f ms, max %.2f ms",
		m.n, where, nodes, msf(m.lat.P50), msf(m.lat.P99), msf(m.lat.Max))}
	if m.notSeen > 0 {
		lines = append(lines, fmt.Sprintf("%d node-purges were not seen within 2 s (counted as 2 s); do the nodes share a bus? see -purge-yaml", m.notSeen))
	}
	return lines
}

// measurePurge starts nodes edged nodes, node i with nodeYAML(i) appended
// to its config, and times purges posted to node 0 until no node answers
// a hit for the purged URL any more.
func (b *bench) measurePurge(ctx context.Context, slug string, nodes int, nodeYAML func(int) string) (purgeMeasure, error) {
	var m purgeMeasure
	var started []*target
	defer func() {
		for _, n := range started {
			_ = b.stop(n.proc)
		}
	}()
	for i := range nodes {
		n, err := b.startEdged(ctx, fmt.Sprintf("%s node %d", slug, i), "256MiB", 0, nodeYAML(i))
		if err != nil {
			return m, err
		}
		started = append(started, n)
	}
	var worst []time.Duration
	for r := range b.o.purges {
		path := fmt.Sprintf("/obj/1024/%s-%s-%d", slug, b.runID, r)
		for _, n := range started {
			for range 2 {
				if _, err := isHitAt(ctx, n, path); err != nil {
					return m, err
				}
			}
		}
		roundMax, notSeen, skip, err := b.timePurge(ctx, started, path)
		if err != nil || skip != "" {
			m.skip = skip
			return m, err
		}
		m.notSeen += notSeen
		worst = append(worst, roundMax)
	}
	m.lat, m.n = stats.Summarize(worst), len(worst)
	return m, nil
}

// timePurge posts a purge of path to the first node and returns how long
// until the last node stopped answering a hit for it. Every node is probed
// from the moment the POST is sent, each by its own goroutine: node 0
// answers the POST only once it has applied the purge itself, and probing
// the nodes one after another only after that answer (as this bench did
// until issue 18) counted node 0's whole apply and one probe round trip
// per node before it into every figure. The probes ask with
// only-if-cached (RFC 9111 §5.2.1.7), so a node that no longer holds the
// object answers 504 at once instead of fetching it again: the moment
// measured is its lookup, not a refill from the origin.
func (b *bench) timePurge(ctx context.Context, nodes []*target, path string) (roundMax time.Duration, notSeen int, skip string, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type seen struct {
		d   time.Duration
		ok  bool
		err error
	}
	t0 := time.Now()
	results := make(chan seen, len(nodes))
	for _, n := range nodes {
		go func() {
			d, ok, err := waitPurged(ctx, n, path, t0, 2*time.Second)
			results <- seen{d, ok, err}
		}()
	}
	code, err := b.postPurge(ctx, nodes[0].admin, "http://"+purgeHost+path)
	if err == nil && code != http.StatusOK {
		skip = fmt.Sprintf("POST /purge answered %d", code)
	}
	if err != nil || skip != "" {
		cancel()
	}
	for range nodes {
		s := <-results
		switch {
		case s.err != nil && err == nil && skip == "":
			err = s.err
		case !s.ok:
			notSeen++
		}
		roundMax = max(roundMax, s.d)
	}
	return roundMax, notSeen, skip, err
}

// waitPurged polls n until path is no longer a hit, up to limit after t0;
// the time is when the first answer that is not a hit arrived.
func waitPurged(ctx context.Context, n *target, path string, t0 time.Time, limit time.Duration) (time.Duration, bool, error) {
	for {
		hit, err := isHitAt(ctx, n, path, "Cache-Control", "only-if-cached")
		if err != nil {
			return 0, false, err
		}
		d := time.Since(t0)
		if !hit {
			return d, true, nil
		}
		if d > limit {
			return limit, false, nil
		}
		if err := ctx.Err(); err != nil {
			return 0, false, err
		}
		time.Sleep(200 * time.Microsecond)
	}
}
