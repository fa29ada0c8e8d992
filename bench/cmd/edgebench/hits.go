package main

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"edged/bench/loadgen"
	"edged/bench/procstat"
	"edged/bench/report"
	"edged/bench/stats"
)

// sample is one measured run of one target.
type sample struct {
	rps, p50, p99, cpu, rss float64 // req/s, ms, ms, µs per request, MiB
	errors                  int
	firstErr                string
}

// loadgenName says which load generator the throughput runs use.
func (b *bench) loadgenName() string {
	if b.useWrk() {
		return "wrk (throughput runs, 2 threads); built-in Go client for latency, Zipf, miss, cold-key, purge and restart runs"
	}
	why := b.tools.why["wrk"]
	if b.o.loadgen == "go" {
		why = "-loadgen go"
	}
	return "built-in Go client for every run (wrk not used: " + why + ")"
}

func (b *bench) useWrk() bool {
	return b.o.loadgen != "go" && b.tools.wrk != ""
}

// load runs one closed-loop load of url at conns connections for dur.
func (b *bench) load(ctx context.Context, url string, conns int, dur time.Duration, headers []string) (loadgen.Result, error) {
	if b.useWrk() {
		return loadgen.Wrk{Path: b.tools.wrk, Threads: 2}.Run(ctx, loadgen.WrkRun{URL: url, Conns: conns, Duration: dur, Headers: headers})
	}
	hdr := map[string][]string{}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		hdr[strings.TrimSpace(k)] = []string{strings.TrimSpace(v)}
	}
	return loadgen.Run(ctx, loadgen.Config{
		URL:         func(int, int) string { return url },
		Conns:       conns,
		Duration:    dur,
		MaxRequests: 20_000_000,
		Header:      hdr,
	})
}

// measure runs fn against t and adds the server's CPU time per request
// and peak RSS over the run, read from /proc.
func measure(t *target, fn func() (loadgen.Result, error)) (sample, error) {
	var pr procstat.Reader
	pid := t.proc.PID()
	pr.ResetPeak(pid)
	before, err := pr.Sample(pid)
	if err != nil {
		return sample{}, fmt.Errorf("%s: %w", t.name, err)
	}
	res, err := fn()
	if err != nil {
		return sample{}, fmt.Errorf("%s: %w", t.name, err)
	}
	after, err := pr.Sample(pid)
	if err != nil {
		return sample{}, fmt.Errorf("%s: %w", t.name, err)
	}
	s := sample{
		rps: res.RPS(), p50: msf(res.Lat.P50), p99: msf(res.Lat.P99),
		cpu: math.NaN(), rss: float64(after.PeakRSS) / (1 << 20), errors: res.Errors,
	}
	if res.Requests > 0 {
		s.cpu = float64((after.CPU - before.CPU).Microseconds()) / float64(res.Requests)
	}
	if res.FirstError != nil {
		s.firstErr = res.FirstError.Error()
	}
	return s, nil
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// rowOf summarizes a target's samples in a scenario.
func rowOf(scenario string, t *target, ss []sample, note string) report.Row {
	col := func(f func(sample) float64) stats.Spread {
		vs := make([]float64, len(ss))
		for i, s := range ss {
			vs[i] = f(s)
		}
		return stats.Of(vs)
	}
	errs := 0
	first := ""
	for _, s := range ss {
		errs += s.errors
		if first == "" {
			first = s.firstErr
		}
	}
	if errs > 0 {
		note = strings.TrimSpace(note + fmt.Sprintf(" %d errors", errs))
		if first != "" {
			note += " (" + oneLine(first) + ")"
		}
	}
	return report.Row{Scenario: scenario, Target: t.name, Note: note,
		RPS: col(func(s sample) float64 { return s.rps }), P50: col(func(s sample) float64 { return s.p50 }),
		P99: col(func(s sample) float64 { return s.p99 }), CPU: col(func(s sample) float64 { return s.cpu }),
		RSS: col(func(s sample) float64 { return s.rss })}
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// hitScenario names a hit scenario.
func hitScenario(size, conns int) string {
	return fmt.Sprintf("hit %s, %d conns", sizeName(size), conns)
}

// warm fetches url from t until it is a hit (at most 3 tries) and
// returns a note when it never was.
func warm(ctx context.Context, t *target, url string) string {
	for range 3 {
		h, _, err := get(ctx, url, t.headers)
		if err != nil {
			return "warm-up failed: " + oneLine(err.Error())
		}
		if t.isHit == nil || t.isHit(h) {
			return ""
		}
	}
	return "NOT A HIT after 3 requests"
}

// runHits runs the hit scenarios: every size at every connection count,
// targets alternating within each repetition (A B C … A B C …).
func (b *bench) runHits(ctx context.Context) ([]report.Row, []report.Section, error) {
	var rows []report.Row
	var profiles []report.Section
	sizes, err := hitSizes(b.o.sizes)
	if err != nil {
		return nil, nil, err
	}
	for _, size := range sizes {
		for _, conns := range []int{64, 256} {
			sc := hitScenario(size, conns)
			logf("scenario: %s", sc)
			url := func(t *target) string { return t.base + fmt.Sprintf("/obj/%d/hit", size) }
			notes := map[string]string{}
			samples := map[string][]sample{}
			for _, t := range b.all {
				if t.skip == "" {
					notes[t.name] = warm(ctx, t, url(t))
				}
			}
			for range b.o.reps {
				for _, t := range b.all {
					if t.skip != "" {
						continue
					}
					s, err := measure(t, func() (loadgen.Result, error) {
						return b.load(ctx, url(t), conns, b.o.duration, t.headers)
					})
					if err != nil {
						return nil, nil, err
					}
					samples[t.name] = append(samples[t.name], s)
				}
			}
			if t := b.byName[tEdgedMem]; b.o.profile && conns == 64 && size <= 100<<10 && t != nil && t.skip == "" {
				profiles = append(profiles, b.profile(ctx, t, sc, func(ctx context.Context, d time.Duration) error {
					_, err := b.load(ctx, url(t), conns, d, t.headers)
					return err
				}))
			}
			for _, t := range b.all {
				if t.skip != "" {
					rows = append(rows, report.Row{Scenario: sc, Target: t.name, Skipped: t.skip})
					continue
				}
				rows = append(rows, rowOf(sc, t, samples[t.name], notes[t.name]))
			}
		}
	}
	return rows, profiles, nil
}

// hitSizes parses -sizes: body sizes in KiB.
func hitSizes(s string) ([]int, error) {
	var sizes []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-sizes: want KiB counts like 1,100,1024, got %q", f)
		}
		sizes = append(sizes, n<<10)
	}
	return sizes, nil
}
