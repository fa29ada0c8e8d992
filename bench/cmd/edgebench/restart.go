package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"edged/bench/loadgen"
	"edged/bench/report"
	"edged/bench/targets"
)

const restartSize = 128 // bytes per object in the restart scenario

func (b *bench) runRestart(ctx context.Context, res *results) error {
	n := b.o.objects
	title := fmt.Sprintf("Restart with %d objects on disk", n)
	logf("scenario: restart with %d objects on disk", n)
	t, err := b.startEdged(ctx, "edged restart", "256MiB", 16384, "")
	if err != nil {
		return err
	}
	defer func() { _ = b.stop(t.proc) }()
	url := func(k int) string { return fmt.Sprintf("%s/obj/%d/r%d", t.base, restartSize, k) }

	// Fill: every key once, bounded in time.
	var next atomic.Int64
	fillLimit := pick(b.o.quick, 60*time.Second, 6*time.Minute)
	t0 := time.Now()
	fill, err := loadgen.Run(ctx, loadgen.Config{
		URL:   func(int, int) string { return url(int(next.Add(1) - 1)) },
		Conns: 32, Duration: fillLimit, MaxRequests: n,
	})
	if err != nil {
		return err
	}
	fillTime := time.Since(t0)
	m, err := waitWrites(ctx, t.admin, 60*time.Second)
	if err != nil {
		return err
	}
	onDisk := int(m[`edged_storage_entries{tier="disk"}`])
	skipped := int(m[`edged_storage_disk_writes_skipped_total`])
	logf("filled %d objects in %v (%d on disk, %d disk writes skipped)", fill.Requests, fillTime.Round(time.Millisecond), onDisk, skipped)
	keys := max(onDisk, 1)

	// Steady state before the restart: uniform keys of the filled set.
	rnd := func(seed uint64) func(int, int) string {
		r := rand.New(rand.NewPCG(seed, 7))
		gens := make([]*rand.Rand, 64)
		for i := range gens {
			gens[i] = rand.New(rand.NewPCG(r.Uint64(), uint64(i)))
		}
		return func(w, _ int) string { return url(gens[w].IntN(min(keys, fill.Requests))) }
	}
	base, err := loadgen.Run(ctx, loadgen.Config{URL: rnd(1), Conns: 64, Duration: b.o.duration})
	if err != nil {
		return err
	}

	p, err := b.restartEdged(t)
	if err != nil {
		return err
	}
	started := p.Started
	// Time to first hit: poll one stored key until it is a hit.
	var firstHit time.Duration
	for firstHit == 0 {
		if time.Since(started) > 60*time.Second {
			return fmt.Errorf("restart: no hit within 60 s: %s", p.Tail())
		}
		select {
		case <-p.Done():
			return fmt.Errorf("restart: edged exited: %s", p.Tail())
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if h, _, err := get(ctx, url(0), nil); err == nil && edgedHit(h) {
			firstHit = time.Since(started)
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	// Time to full speed: 250 ms windows until one reaches 90% of the
	// steady state, bounded.
	fullLimit := pick(b.o.quick, 15*time.Second, 60*time.Second)
	var full time.Duration
	for w := uint64(0); time.Since(started) < firstHit+fullLimit; w++ {
		r, err := loadgen.Run(ctx, loadgen.Config{URL: rnd(100 + w), Conns: 64, Duration: 250 * time.Millisecond})
		if err != nil {
			return err
		}
		if r.RPS() >= 0.9*base.RPS() {
			full = time.Since(started)
			break
		}
	}
	res.firstHit = firstHit.Seconds()
	fullText := fmt.Sprintf("not within %v", fullLimit)
	if full > 0 {
		fullText = full.Round(time.Millisecond).String()
	}
	res.sections = append(res.sections, report.Section{Title: title, Lines: []string{
		fmt.Sprintf("filled %d objects of %d bytes in %v (%.0f/s); %d entries on disk, %d disk writes skipped",
			fill.Requests, restartSize, fillTime.Round(time.Millisecond), float64(fill.Requests)/fillTime.Seconds(), onDisk, skipped),
		fmt.Sprintf("steady state before the restart (uniform keys, 64 conns): %.0f req/s", base.RPS()),
		fmt.Sprintf("time to first hit after exec: %v", firstHit.Round(time.Millisecond)),
		fmt.Sprintf("time to full speed (a 250 ms window at ≥ 90%% of the steady state): %s", fullText),
	}})
	if fill.Requests < n {
		res.restartNote = fmt.Sprintf("only %d of %d objects filled within %v", fill.Requests, n, fillLimit)
	}
	return nil
}

// waitWrites waits until edged's disk write queue is empty and returns
// its metrics then.
func waitWrites(ctx context.Context, admin string, limit time.Duration) (targets.Metrics, error) {
	deadline := time.Now().Add(limit)
	for {
		m, err := targets.FetchMetrics(ctx, admin+"/metrics")
		if err != nil {
			return nil, err
		}
		if m[`edged_storage_pending_writes`] == 0 || time.Now().After(deadline) {
			return m, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}
