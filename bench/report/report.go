// Package report turns a side-by-side benchmark run into a markdown table
// (stdout and bench/results/latest.md) and an SVG chart of throughput and
// p99 per target (bench/results/latest.svg). It only formats: every number
// comes in a Report, so fixed numbers give a fixed document.
package report

import (
	"fmt"
	"math"
	"strings"

	"edged/bench/stats"
)

// Machine describes where the run happened.
type Machine struct {
	NProc                     int
	CPU, Kernel               string
	Go, Nginx, Varnish, Wrk   string
	Date, Mode, LoadGenerator string
}

// Row is one target in one scenario: the spreads over repetitions.
type Row struct {
	Scenario string
	Target   string
	// Skipped is why the target was not measured ("" when it was).
	Skipped  string
	RPS      stats.Spread
	P50, P99 stats.Spread // milliseconds
	CPU      stats.Spread // server CPU microseconds per request
	RSS      stats.Spread // peak RSS, MiB
	Note     string       // e.g. a hit ratio
}

// Check is one target of the benchmarks issue and whether the run met it.
type Check struct {
	Name string // what is measured
	Goal string // the target
	Got  string // what this run measured
	// Met is the verdict; Skipped, when set, means no verdict.
	Met     bool
	Skipped string
	// Miss says by how much the target was missed ("" when met).
	Miss string
}

// Report is a whole run.
type Report struct {
	Machine Machine
	Rows    []Row
	// Sections are extra scenarios reported as text lines (title → lines).
	Sections []Section
	Checks   []Check
}

// Section is a titled list of result lines, optionally followed by
// preformatted text (a profile's top lines, say).
type Section struct {
	Title string
	Lines []string
	Code  string
}

// Reference targets for the ratio columns.
const (
	Nginx   = "nginx"
	Ceiling = "ceiling"
)

// Scenarios returns the scenarios of r.Rows in first-seen order.
func (r Report) Scenarios() []string {
	var out []string
	seen := map[string]bool{}
	for _, row := range r.Rows {
		if !seen[row.Scenario] {
			seen[row.Scenario] = true
			out = append(out, row.Scenario)
		}
	}
	return out
}

// Targets returns the targets of r.Rows in first-seen order.
func (r Report) Targets() []string {
	var out []string
	seen := map[string]bool{}
	for _, row := range r.Rows {
		if !seen[row.Target] {
			seen[row.Target] = true
			out = append(out, row.Target)
		}
	}
	return out
}

// Find returns the row of target in scenario.
func (r Report) Find(scenario, target string) (Row, bool) {
	for _, row := range r.Rows {
		if row.Scenario == scenario && row.Target == target {
			return row, true
		}
	}
	return Row{}, false
}

// Ratio is the median throughput of row over that of target ref in the
// same scenario; NaN when either was not measured.
func (r Report) Ratio(row Row, ref string) float64 {
	other, ok := r.Find(row.Scenario, ref)
	if !ok || row.Skipped != "" || other.Skipped != "" || !row.RPS.Valid() || !other.RPS.Valid() || other.RPS.Median == 0 {
		return math.NaN()
	}
	return row.RPS.Median / other.RPS.Median
}

// Markdown renders the whole report.
func (r Report) Markdown() string {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "# edged side-by-side benchmarks\n\n")
	fmt.Fprintf(&b, "%s run, %s. Load generator: %s. Loopback only; load generator and servers share the machine.\n\n", m.Mode, m.Date, m.LoadGenerator)
	fmt.Fprintf(&b, "| machine | |\n|---|---|\n")
	fmt.Fprintf(&b, "| cores (nproc) | %d |\n| CPU | %s |\n| kernel | %s |\n| Go | %s |\n| nginx | %s |\n| Varnish | %s |\n| wrk | %s |\n\n",
		m.NProc, m.CPU, m.Kernel, m.Go, m.Nginx, m.Varnish, m.Wrk)
	b.WriteString("Each cell: median of the repetitions, min–max in brackets. CPU is the server's own user+system time per request " +
		"(from /proc, the whole process tree: nginx workers and Varnish's child included); RSS is its peak resident set (VmHWM). " +
		"× nginx and × ceiling are throughput ratios in the same run.\n\n")
	if len(r.Checks) > 0 {
		b.WriteString("## Targets from the benchmarks issue\n\n| target | goal | measured | verdict |\n|---|---|---|---|\n")
		for _, c := range r.Checks {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", c.Name, c.Goal, c.Got, c.Verdict())
		}
		b.WriteString("\n")
	}
	for _, sc := range r.Scenarios() {
		fmt.Fprintf(&b, "## %s\n\n", sc)
		b.WriteString("| target | req/s | p50 ms | p99 ms | CPU µs/req | peak RSS MiB | × nginx | × ceiling | note |\n")
		b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
		for _, row := range r.Rows {
			if row.Scenario != sc {
				continue
			}
			if row.Skipped != "" {
				fmt.Fprintf(&b, "| %s | skipped | | | | | | | %s |\n", row.Target, row.Skipped)
				continue
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", row.Target,
				spread(row.RPS, 0), spread(row.P50, 3), spread(row.P99, 3), spread(row.CPU, 1), spread(row.RSS, 0),
				ratio(r.Ratio(row, Nginx)), ratio(r.Ratio(row, Ceiling)), row.Note)
		}
		b.WriteString("\n")
	}
	for _, s := range r.Sections {
		fmt.Fprintf(&b, "## %s\n\n", s.Title)
		for _, l := range s.Lines {
			fmt.Fprintf(&b, "- %s\n", l)
		}
		if s.Code != "" {
			if len(s.Lines) > 0 {
				b.WriteString("\n")
			}
			fmt.Fprintf(&b, "```\n%s\n```\n", strings.TrimRight(s.Code, "\n"))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// Verdict is "met", "MISSED (…)" or "skipped (…)".
func (c Check) Verdict() string {
	switch {
	case c.Skipped != "":
		return "skipped (" + c.Skipped + ")"
	case c.Met:
		return "met"
	default:
		return "**MISSED** (" + c.Miss + ")"
	}
}

func spread(s stats.Spread, prec int) string {
	if !s.Valid() {
		return "–"
	}
	if s.N == 1 || s.Min == s.Max {
		return fmt.Sprintf("%.*f", prec, s.Median)
	}
	return fmt.Sprintf("%.*f [%.*f–%.*f]", prec, s.Median, prec, s.Min, prec, s.Max)
}

func ratio(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.2f", v)
}
