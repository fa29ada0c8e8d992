package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"edged/bench/loadgen"
	"edged/bench/procstat"
	"edged/bench/report"
	"edged/bench/stats"
	"edged/bench/targets"
)

// results collects what the scenarios found, for the report and checks.
type results struct {
	rows     []report.Row
	sections []report.Section
	// For the checks.
	missAddedP50 float64 // ms; NaN when not measured
	coldFetches  float64 // edged's origin fetches for one cold key; NaN when not measured
	purgeP99     float64 // ms; NaN when not measured
	purgeSkip    string
	// The same on a three-server NATS cluster.
	purgeClusterP99  float64
	purgeClusterSkip string
	// zipfScenario and missScenario (8 conns) name rows the checks read;
	// "" when not run.
	zipfScenario, missScenario string
	firstHit                   float64 // seconds; NaN when not measured
	restartNote                string
	// forwardChecks are the forward proxy's goals (forward.go).
	forwardChecks []report.Check
}

// runScenarios runs every selected scenario in turn.
func (b *bench) runScenarios(ctx context.Context) (report.Report, error) {
	res := &results{missAddedP50: math.NaN(), coldFetches: math.NaN(), purgeP99: math.NaN(), purgeClusterP99: math.NaN(), firstHit: math.NaN()}
	steps := []struct {
		name string
		fn   func(context.Context, *results) error
	}{
		{"hits", func(ctx context.Context, r *results) error {
			rows, profiles, err := b.runHits(ctx)
			r.rows = append(r.rows, rows...)
			r.sections = append(r.sections, profiles...)
			return err
		}},
		{"zipf", b.runZipf},
		{"miss", b.runMiss},
		{"cold", b.runCold},
		{"purge", b.runPurge},
		{"purge-cluster", b.runPurgeCluster},
		{"restart", b.runRestart},
		{"forward", b.runForward},
	}
	for _, s := range steps {
		if !b.o.wants(s.name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return report.Report{}, err
		}
		if err := s.fn(ctx, res); err != nil {
			return report.Report{}, fmt.Errorf("scenario %s: %w", s.name, err)
		}
	}
	rep := report.Report{Rows: res.rows, Sections: append([]report.Section{b.targetsSection()}, res.sections...)}
	rep.Checks = b.checks(rep, res)
	return rep, nil
}

// zipfSetup sizes the Zipf scenario: keys of 16 KiB, four times the
// memory tier.
func (b *bench) zipfSetup() (memMiB, keys int) {
	memMiB = pick(b.o.quick, 8, 32)
	return memMiB, memMiB * 4 * 64 // 64 objects of 16 KiB per MiB
}

// zipfCacheMemory is the cache.memory that gives edged a memory tier of
// memMiB: the tier is three eighths of cache.memory (edge/config's
// StorageOptions), the rest being the budget of bodies in flight, the disk
// write queue and the runtime. Configured as cache.memory = memMiB, the
// tier was 12 MiB of the scenario's 32 and the Go runtime's soft limit
// 32 MiB: a hot set 11× the tier, not the 4× the scenario states, and a
// heap collected against its limit.
func zipfCacheMemory(memMiB int) string {
	return fmt.Sprintf("%dKiB", (memMiB<<10)*8/3+1)
}

// zipfTarget is the name of edged's target in the Zipf scenario.
func zipfTarget(b *bench) string {
	memMiB, _ := b.zipfSetup()
	return fmt.Sprintf("edged zipf (mem %d MiB)", memMiB)
}

func (b *bench) runZipf(ctx context.Context, res *results) error {
	memMiB, keys := b.zipfSetup()
	const size, conns = 16 << 10, 64
	sc := fmt.Sprintf("zipf s=1.1 over %d × 16 KiB (%d MiB; edged memory tier %d MiB), %d conns", keys, keys*size>>20, memMiB, conns)
	res.zipfScenario = sc
	logf("scenario: %s", sc)
	ez, err := b.startEdged(ctx, zipfTarget(b), zipfCacheMemory(memMiB), 0, "")
	if err != nil {
		return err
	}
	defer func() { _ = b.stop(ez.proc) }()
	all := []*target{b.byName[tNginx], b.byName[tVarnish], ez}
	if b.o.base != "" {
		base, err := b.startEdgedBin(ctx, zipfTarget(b)+baseSuffix, targets.Edged{Memory: zipfCacheMemory(memMiB)}, filepath.Join(b.o.base, "edged"))
		if err != nil {
			return err
		}
		defer func() { _ = b.stop(base.proc) }()
		all = append(all, base)
	}
	ts := []*target{}
	for _, t := range all {
		if t.skip == "" {
			ts = append(ts, t)
		} else {
			res.rows = append(res.rows, report.Row{Scenario: sc, Target: t.name, Skipped: t.skip})
		}
	}
	run := func(t *target, seed uint64, d time.Duration) (loadgen.Result, error) {
		gens := make([]*loadgen.Zipf, conns)
		for i := range gens {
			gens[i] = loadgen.NewZipf(seed*1000+uint64(i), 1.1, keys)
		}
		return loadgen.Run(ctx, loadgen.Config{
			URL:         func(w, _ int) string { return zipfURL(t, size, gens[w].Next()) },
			Conns:       conns,
			Duration:    d,
			MaxRequests: 5_000_000,
			Classify:    t.hitOrMiss,
		})
	}
	// Warm-up: every key, in passes until a pass is all hits (at most
	// zipfWarmPasses), then one Zipf run each. Every target then holds the
	// whole key set, and the measured runs are hits (the miss scenarios
	// measure misses). A timed Zipf run alone left each target holding the
	// keys it had time to fetch: a slower target met more of the tail as
	// misses in the measured runs (edged 95.9% hits against nginx's 97.2%
	// in one run), which slowed it further, and the scenario measured the
	// warm-up's speed as much as the hot set's.
	passes := map[string]int{}
	for _, t := range ts {
		for passes[t.name] = 1; ; passes[t.name]++ {
			misses, err := warmEveryKey(ctx, t, keys, size, conns)
			if err != nil {
				return err
			}
			if misses == 0 || passes[t.name] == zipfWarmPasses {
				break
			}
		}
		if _, err := run(t, 99, b.o.duration); err != nil {
			return err
		}
	}
	samples := map[string][]sample{}
	hit := map[string][]float64{}
	metricHit, memShare := map[string][]float64{}, map[string][]float64{}
	for rep := range b.o.reps {
		for _, t := range ts {
			var before targets.Metrics
			if t.admin != "" {
				before, _ = targets.FetchMetrics(ctx, t.admin+"/metrics")
			}
			var lr loadgen.Result
			s, err := measure(t, func() (loadgen.Result, error) {
				r, err := run(t, uint64(rep+1), b.o.duration)
				lr = r
				return r, err
			})
			if err != nil {
				return err
			}
			samples[t.name] = append(samples[t.name], s)
			if n := lr.Classes["hit"] + lr.Classes["miss"]; n > 0 {
				hit[t.name] = append(hit[t.name], 100*float64(lr.Classes["hit"])/float64(n))
			}
			if t.admin != "" && before != nil {
				after, err := targets.FetchMetrics(ctx, t.admin+"/metrics")
				if err == nil {
					ratio, _ := targets.HitRatio(before, after)
					metricHit[t.name] = append(metricHit[t.name], 100*ratio)
					mem := after[`edged_served_bytes_total{tier="memory"}`] - before[`edged_served_bytes_total{tier="memory"}`]
					disk := after[`edged_served_bytes_total{tier="disk"}`] - before[`edged_served_bytes_total{tier="disk"}`]
					if mem+disk > 0 {
						memShare[t.name] = append(memShare[t.name], 100*mem/(mem+disk))
					}
				}
			}
		}
	}
	for _, t := range ts {
		note := fmt.Sprintf("hit ratio %.1f%% (response headers); warm-up passes over every key: %d", stats.Of(hit[t.name]).Median, passes[t.name])
		if t.admin != "" {
			note += fmt.Sprintf("; /metrics: hit ratio %.1f%%, %.0f%% of hit bytes from memory",
				stats.Of(metricHit[t.name]).Median, stats.Of(memShare[t.name]).Median)
		}
		res.rows = append(res.rows, rowOf(sc, t, samples[t.name], note))
	}
	if b.o.profile {
		res.sections = append(res.sections, b.profile(ctx, ez, sc, func(ctx context.Context, d time.Duration) error {
			_, err := run(ez, 77, d)
			return err
		}))
	}
	notes := []string{
		fmt.Sprintf("Only edged's memory tier is smaller than the key set (%d MiB vs %d MiB; cache.memory %s, of which the tier is three eighths); its disk tier, nginx's cache (on disk, in the page cache) and Varnish's 256 MiB malloc storage hold the whole set after the warm-up (every key, in passes until one is all hits, at most %d; then one Zipf run), so the measured runs are hits.", memMiB, keys*size>>20, zipfCacheMemory(memMiB), zipfWarmPasses),
	}
	for _, t := range ts {
		if l := residentNote(t); l != "" {
			notes = append(notes, l)
		}
	}
	res.sections = append(res.sections, report.Section{Title: "Zipf notes", Lines: notes})
	return nil
}

// residentNote splits an edged target's resident set, read after its runs,
// into anonymous memory (heap: what cache.memory bounds) and file-backed
// pages (mostly the bbolt file, mapped, which holds bodies under
// cache.file_body_min): its peak RSS counts both, while nginx reads its
// cache files without mapping them. "" for other targets, or when /proc
// cannot tell.
func residentNote(t *target) string {
	if t.admin == "" || t.proc == nil {
		return ""
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", t.proc.PID()))
	if err != nil {
		return ""
	}
	anon, file, err := procstat.ParseResident(b)
	if err != nil || anon+file == 0 {
		return ""
	}
	return fmt.Sprintf("%s after its runs: resident %d MiB anonymous (heap, stacks) and %d MiB file-backed (the bbolt file it maps, and its binary), which the kernel can drop.", t.name, anon>>20, file>>20)
}

// zipfURL is the URL of the Zipf scenario's key on t.
func zipfURL(t *target, size, key int) string {
	return fmt.Sprintf("%s/obj/%d/z%d", t.base, size, key)
}

// hitOrMiss classifies a response of t by the header that says hit.
func (t *target) hitOrMiss(r *http.Response) string {
	if t.isHit(r.Header) {
		return "hit"
	}
	return "miss"
}

// zipfWarmPasses bounds the warm-up's passes over every key: a pass at 64
// conns is a burst of misses, and edged skips the disk writes its bounded
// write queue cannot take (about one in ten in a first pass, at a memory
// tier of 32 MiB); the next pass fetches those again.
const zipfWarmPasses = 3

// warmEveryKey asks t for each of the Zipf scenario's keys once, over conns
// connections, and returns how many answers were not hits. It fails unless
// every answer was a success.
func warmEveryKey(ctx context.Context, t *target, keys, size, conns int) (misses int, err error) {
	var next atomic.Int64
	r, err := loadgen.Run(ctx, loadgen.Config{
		URL: func(_, _ int) string {
			return zipfURL(t, size, int(next.Add(1)-1))
		},
		Conns:       conns,
		Duration:    5 * time.Minute, // ended by MaxRequests
		MaxRequests: keys,
		Classify:    t.hitOrMiss,
	})
	switch {
	case err != nil:
		return 0, fmt.Errorf("%s: zipf warm-up: %w", t.name, err)
	case r.Requests != keys:
		return 0, fmt.Errorf("%s: zipf warm-up: %d of %d keys answered (%d errors, first %v)", t.name, r.Requests, keys, r.Errors, r.FirstError)
	}
	return r.Classes["miss"], nil
}

// runMiss measures the miss path twice: with one connection, where a
// request's latency is the hop itself (the target "added p50" is read here),
// and with 8, where it is mostly queueing behind the server's CPU per miss
// on a machine the load generator and the origin share.
func (b *bench) runMiss(ctx context.Context, res *results) error {
	for _, conns := range []int{1, 8} {
		added, err := b.runMissAt(ctx, res, conns)
		if err != nil {
			return err
		}
		if conns == 1 {
			res.missAddedP50 = added
		}
	}
	return nil
}

func (b *bench) runMissAt(ctx context.Context, res *results, conns int) (added float64, err error) {
	n := pick(b.o.quick, 400, 2000)
	if conns == 1 {
		n /= 2
	}
	sc := fmt.Sprintf("miss 1 KiB (unique URLs), %d conns, %d requests", conns, n)
	if conns > 1 {
		res.missScenario = sc // CPU per miss, with the server busy
	}
	logf("scenario: %s", sc)
	ts := []*target{b.byName[tOrigin], b.byName[tNginx], b.byName[tVarnish], b.byName[tEdgedMem]}
	if base := b.byName[tEdgedMem+baseSuffix]; base != nil {
		// -base: the baseline binary's misses in the same run, old vs new.
		ts = append(ts, base)
	}
	samples := map[string][]sample{}
	for rep := range b.o.reps {
		for _, t := range ts {
			if t.skip != "" {
				continue
			}
			s, err := measure(t, func() (loadgen.Result, error) {
				return b.missLoad(ctx, t, fmt.Sprintf("c%d-%d", conns, rep), conns, 10*time.Second, n)
			})
			if err != nil {
				return 0, err
			}
			samples[t.name] = append(samples[t.name], s)
		}
	}
	for _, t := range ts {
		if t.skip != "" {
			res.rows = append(res.rows, report.Row{Scenario: sc, Target: t.name, Skipped: t.skip})
			continue
		}
		res.rows = append(res.rows, rowOf(sc, t, samples[t.name], ""))
	}
	p50 := func(name string) float64 {
		vs := []float64{}
		for _, s := range samples[name] {
			vs = append(vs, s.p50)
		}
		return stats.Of(vs).Median
	}
	added = p50(tEdgedMem) - p50(tOrigin)
	lines := []string{fmt.Sprintf("edged adds %.3f ms at p50 over going straight to the origin (%.3f vs %.3f ms).", added, p50(tEdgedMem), p50(tOrigin))}
	for _, name := range []string{tNginx, tVarnish, tEdgedMem + baseSuffix} {
		if len(samples[name]) > 0 {
			lines = append(lines, fmt.Sprintf("%s adds %.3f ms at p50.", name, p50(name)-p50(tOrigin)))
		}
	}
	res.sections = append(res.sections, report.Section{Title: fmt.Sprintf("Miss latency, %d conns", conns), Lines: lines})
	if t := b.byName[tEdgedMem]; b.o.profile && conns == 1 && t != nil {
		res.sections = append(res.sections, b.profile(ctx, t, sc, func(ctx context.Context, d time.Duration) error {
			_, err := b.missLoad(ctx, t, "profile", conns, d, 1_000_000)
			return err
		}))
	}
	return added, nil
}

// missLoad sends requests for URLs no other run asks for (every one a
// miss at t), tagged so that runs of one target never share a URL.
func (b *bench) missLoad(ctx context.Context, t *target, tag string, conns int, d time.Duration, n int) (loadgen.Result, error) {
	slug := strings.ReplaceAll(t.name, " ", "-")
	return loadgen.Run(ctx, loadgen.Config{
		URL: func(w, i int) string {
			return fmt.Sprintf("%s/obj/1024/miss-%s-%s-%s-%d-%d", t.base, b.runID, slug, tag, w, i)
		},
		Conns: conns, Duration: d, MaxRequests: n,
	})
}

// coldKey sends n concurrent requests for one cold key through t and
// returns how many times the origin was asked for it.
func (b *bench) coldKey(ctx context.Context, t *target, n int) (fetches int64, lat stats.Latencies, errs int, err error) {
	slug := strings.ReplaceAll(t.name, " ", "-")
	path := fmt.Sprintf("/obj/1024/cold-%s-%s", b.runID, slug)
	tr := loadgen.NewTransport(n)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	startGate := make(chan struct{})
	type out struct {
		d   time.Duration
		err error
	}
	done := make(chan out, n)
	var ready atomic.Int64
	for range n {
		go func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, t.base+path+"?delay=100", nil)
			ready.Add(1)
			<-startGate
			t0 := time.Now()
			resp, err := client.Do(req)
			if err == nil {
				_, err = discard(resp)
				if err == nil && resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			done <- out{time.Since(t0), err}
		}()
	}
	for ready.Load() < int64(n) {
		time.Sleep(time.Millisecond)
	}
	close(startGate)
	var ds []time.Duration
	for range n {
		o := <-done
		if o.err != nil {
			errs++
			continue
		}
		ds = append(ds, o.d)
	}
	st, err := originStats(ctx, "http://"+b.originAddr, path)
	if err != nil {
		return 0, stats.Latencies{}, errs, err
	}
	return st.Path, stats.Summarize(ds), errs, nil
}

func (b *bench) runCold(ctx context.Context, res *results) error {
	const n = 1000
	logf("scenario: %d concurrent requests for one cold key", n)
	lines := []string{fmt.Sprintf("%d clients, each on its own connection, released at once; the origin answers after 100 ms; fetches counted by the origin.", n)}
	for _, name := range []string{tNginx, tVarnish, tEdgedMem} {
		t := b.byName[name]
		if t.skip != "" {
			lines = append(lines, fmt.Sprintf("%s: skipped (%s)", name, t.skip))
			continue
		}
		fetches, lat, errs, err := b.coldKey(ctx, t, n)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if name == tEdgedMem {
			res.coldFetches = float64(fetches)
		}
		lines = append(lines, fmt.Sprintf("%s: %d origin fetch(es); %d answered, %d errors; p50 %.1f ms, p99 %.1f ms",
			name, fetches, lat.N, errs, msf(lat.P50), msf(lat.P99)))
	}
	res.sections = append(res.sections, report.Section{Title: "One cold key, 1000 concurrent requests", Lines: lines})
	return nil
}
