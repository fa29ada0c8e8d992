package main

import (
	"fmt"
	"math"
	"os"

	"edged/bench/report"
)

// edgedMemoryMiB is cache.memory of the edged hit targets (the default of
// bench/targets' EdgedConfig).
const edgedMemoryMiB = 256

// checks compares the run with the targets of the benchmarks issue.
func (b *bench) checks(rep report.Report, res *results) []report.Check {
	nan := math.NaN()
	med := func(sc, target string, f func(report.Row) float64) float64 {
		row, ok := rep.Find(sc, target)
		if !ok || row.Skipped != "" {
			return nan
		}
		return f(row)
	}
	rps := func(r report.Row) float64 { return r.RPS.Median }
	cpu := func(r report.Row) float64 { return r.CPU.Median }
	p99 := func(r report.Row) float64 { return r.P99.Median }
	ratio := func(sc, a, b string, f func(report.Row) float64) float64 {
		return med(sc, a, f) / med(sc, b, f)
	}
	var cs []report.Check
	if b.o.wants("hits") {
		k1 := hitScenario(1<<10, 64)
		cs = append(cs,
			report.AtLeast("1 KiB memory hit, 64 conns: throughput", "≥ 1.00× nginx", ratio(k1, tEdgedMem, tNginx, rps), 1, "%.2f× nginx"),
			report.AtLeast("1 KiB memory hit, 64 conns: throughput", "≥ 1.00× Varnish", ratio(k1, tEdgedMem, tVarnish, rps), 1, "%.2f× Varnish"),
			report.AtMost("1 KiB memory hit, 64 conns: server CPU per request", "≤ 1.10× nginx", ratio(k1, tEdgedMem, tNginx, cpu), 1.1, "%.2f× nginx"),
			report.AtMost("1 KiB memory hit, 64 conns: p99", "≤ 1.50× nginx", ratio(k1, tEdgedMem, tNginx, p99), 1.5, "%.2f× nginx"),
		)
		// Issue 17: large objects from the disk tier (body files, sent
		// with sendfile) as fast as from memory and as nginx's.
		for _, size := range []int{100 << 10, 1 << 20} {
			sc := hitScenario(size, 64)
			cs = append(cs,
				report.AtLeast(fmt.Sprintf("%s disk-tier hit, 64 conns: throughput", sizeName(size)), "≥ 0.90× edged memory hit",
					ratio(sc, tEdgedDisk, tEdgedMem, rps), 0.9, "%.2f×"),
				report.AtLeast(fmt.Sprintf("%s disk-tier hit, 64 conns: throughput", sizeName(size)), "≥ 0.90× nginx",
					ratio(sc, tEdgedDisk, tNginx, rps), 0.9, "%.2f× nginx"))
		}
		sc := hitScenario(1<<20, 256)
		cs = append(cs, report.AtMost("1 MiB memory hits to 256 clients: peak RSS", "≤ cache.memory + 10%",
			med(sc, tEdgedMem, func(r report.Row) float64 { return r.RSS.Median })/edgedMemoryMiB, 1.1, "%.2f× cache.memory"))
		for _, conns := range []int{64, 256} {
			sc := hitScenario(100<<10, conns)
			cs = append(cs, report.AtLeast(fmt.Sprintf("100 KiB memory hit, %d conns: throughput", conns), "≥ 0.90× nginx",
				ratio(sc, tEdgedMem, tNginx, rps), 0.9, "%.2f× nginx"))
		}
		cs = append(cs, report.AtLeast("disk-tier hit (1 KiB, 64 conns) vs memory hit", "≥ 0.50×",
			ratio(k1, tEdgedDisk, tEdgedMem, rps), 0.5, "%.2f×"))
		for _, conns := range []int{64, 256} {
			// #17: the access log, on by default, costs a hit at most 5%.
			sc := hitScenario(1<<10, conns)
			cs = append(cs, report.AtLeast(fmt.Sprintf("1 KiB memory hit, %d conns: throughput with the access log on vs off", conns), "≥ 0.95×",
				ratio(sc, tEdgedMem, tEdgedNoLog, rps), 0.95, "%.2f×"))
		}
		if t := b.byName[tEdgedBr]; t != nil && t.skip != "" {
			cs = append(cs, report.Skip("brotli negotiated", "measured", t.skip))
		}
	}
	if b.o.wants("zipf") && res.zipfScenario != "" {
		cs = append(cs, report.AtLeast("Zipf, hot set 4× the memory tier, 64 conns: throughput", "≥ 1.00× nginx",
			ratio(res.zipfScenario, zipfTarget(b), tNginx, rps), 1, "%.2f× nginx"))
	}
	if b.o.wants("miss") {
		cs = append(cs, report.AtMost("miss path (1 conn): added p50 over the origin", "≤ 0.30 ms", res.missAddedP50, 0.3, "%.3f ms"))
		if res.missScenario != "" {
			cs = append(cs, report.AtMost("miss path (8 conns): server CPU per miss", "≤ 1.50× nginx",
				ratio(res.missScenario, tEdgedMem, tNginx, cpu), 1.5, "%.2f× nginx"))
		}
	}
	if b.o.wants("cold") {
		cs = append(cs, report.AtMost("1000 concurrent requests, one cold key: origin fetches", "= 1", res.coldFetches, 1, "%.0f"))
	}
	if b.o.wants("purge") {
		if res.purgeSkip != "" {
			cs = append(cs, report.Skip("purge propagation p99, 3 nodes", "< 10 ms", res.purgeSkip))
		} else {
			cs = append(cs, report.Below("purge propagation p99, 3 nodes", "< 10 ms", res.purgeP99, 10, "%.2f ms"))
		}
	}
	if b.o.wants("purge-cluster") {
		what := fmt.Sprintf("purge propagation p99, %d nodes on a 3-server NATS cluster", clusterNodes)
		if res.purgeClusterSkip != "" {
			cs = append(cs, report.Skip(what, "< 10 ms", res.purgeClusterSkip))
		} else {
			cs = append(cs, report.Below(what, "< 10 ms", res.purgeClusterP99, 10, "%.2f ms"))
		}
	}
	if b.o.wants("restart") {
		c := report.AtMost(fmt.Sprintf("restart with %d objects: first hit", b.o.objects), "≤ 1 s", res.firstHit, 1, "%.3f s")
		if res.restartNote != "" {
			c.Got += " (" + res.restartNote + ")"
		}
		cs = append(cs, c)
	}
	return append(cs, res.forwardChecks...)
}

// printMisses lists on stderr the targets the run missed, and by how much.
func printMisses(rep report.Report) {
	missed := 0
	for _, c := range rep.Checks {
		if c.Skipped == "" && !c.Met {
			missed++
			fmt.Fprintf(os.Stderr, "edgebench: MISSED %s: goal %s, got %s (%s)\n", c.Name, c.Goal, c.Got, c.Miss)
		}
	}
	for _, c := range rep.Checks {
		if c.Skipped != "" {
			fmt.Fprintf(os.Stderr, "edgebench: skipped %s: %s\n", c.Name, c.Skipped)
		}
	}
	if missed == 0 {
		fmt.Fprintln(os.Stderr, "edgebench: every measured target of the issue was met")
	}
}
