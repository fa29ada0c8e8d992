package report

import (
	"encoding/xml"
	"io"
	"math"
	"strings"
	"testing"

	"edged/bench/stats"
)

func fixed() Report {
	sp := func(vs ...float64) stats.Spread { return stats.Of(vs) }
	return Report{
		Machine: Machine{NProc: 2, CPU: "AMD EPYC", Go: "go1.26", Nginx: "1.22.1", Varnish: "7.1.1", Wrk: "4.1.0",
			Date: "2026-01-01", Mode: "quick", LoadGenerator: "wrk"},
		Rows: []Row{
			{Scenario: "hit 1KiB c64", Target: "ceiling", RPS: sp(100000, 90000, 110000), P50: sp(0.5), P99: sp(2), CPU: sp(10), RSS: sp(20)},
			{Scenario: "hit 1KiB c64", Target: "nginx", RPS: sp(50000), P50: sp(0.8), P99: sp(3), CPU: sp(12), RSS: sp(30)},
			{Scenario: "hit 1KiB c64", Target: "edged <mem>", RPS: sp(40000, 45000), P50: sp(1), P99: sp(4), CPU: sp(15), RSS: sp(50), Note: "hit 100%"},
			{Scenario: "hit 1KiB c64", Target: "edged br", Skipped: "edged does not compress yet"},
		},
		Sections: []Section{
			{Title: "Cold key", Lines: []string{"edged: 1 origin fetch for 1000 requests"}},
			{Title: "Profile", Lines: []string{"3 s CPU profile"}, Code: "flat  flat%\n1.2s 40% syscall.Syscall6\n\n"},
		},
		Checks: []Check{
			AtLeast("1 KiB hit vs nginx", "≥ 1.00× nginx", 0.85, 1, "%.2f×"),
			AtMost("miss added p50", "≤ 0.30 ms", 0.1, 0.3, "%.2f ms"),
			Skip("purge p99", "< 10 ms", "POST /purge answers 404"),
		},
	}
}

func TestMarkdown(t *testing.T) {
	got := fixed().Markdown()
	for _, want := range []string{
		"| cores (nproc) | 2 |",
		"| CPU | AMD EPYC |",
		"| Varnish | 7.1.1 |",
		"## hit 1KiB c64",
		"| ceiling | 100000 [90000–110000] | 0.500 | 2.000 | 10.0 | 20 | 2.00 | 1.00 |  |",
		"| nginx | 50000 | 0.800 | 3.000 | 12.0 | 30 | 1.00 | 0.50 |  |",
		"| edged <mem> | 42500 [40000–45000] | 1.000 | 4.000 | 15.0 | 50 | 0.85 | 0.42 | hit 100% |",
		"| edged br | skipped | | | | | | | edged does not compress yet |",
		"| 1 KiB hit vs nginx | ≥ 1.00× nginx | 0.85× | **MISSED** (short by 0.15×, 15% below the goal) |",
		"| miss added p50 | ≤ 0.30 ms | 0.10 ms | met |",
		"| purge p99 | < 10 ms | – | skipped (POST /purge answers 404) |",
		"## Cold key\n\n- edged: 1 origin fetch for 1000 requests\n",
		"## Profile\n\n- 3 s CPU profile\n\n```\nflat  flat%\n1.2s 40% syscall.Syscall6\n```\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("markdown lacks %q\n%s", want, got)
		}
	}
}

func TestRatio(t *testing.T) {
	r := fixed()
	row, _ := r.Find("hit 1KiB c64", "edged <mem>")
	if got := r.Ratio(row, Nginx); got != 0.85 {
		t.Errorf("Ratio to nginx = %v, want 0.85", got)
	}
	skipped, _ := r.Find("hit 1KiB c64", "edged br")
	if got := r.Ratio(skipped, Nginx); !math.IsNaN(got) {
		t.Errorf("Ratio of a skipped row = %v, want NaN", got)
	}
	if got := r.Ratio(row, "varnish"); !math.IsNaN(got) {
		t.Errorf("Ratio to an absent target = %v, want NaN", got)
	}
}

func TestChecks(t *testing.T) {
	tests := []struct {
		name    string
		c       Check
		met     bool
		verdict string
	}{
		{"at least, met", AtLeast("a", "g", 1.2, 1, "%.2f"), true, "met"},
		{"at least, equal", AtLeast("a", "g", 1, 1, "%.2f"), true, "met"},
		{"at least, missed", AtLeast("a", "g", 0.45, 0.5, "%.2f"), false, "**MISSED** (short by 0.05, 10% below the goal)"},
		{"at most, missed", AtMost("a", "g", 0.45, 0.3, "%.2f ms"), false, "**MISSED** (over by 0.15 ms, 50% above the goal)"},
		{"below, equal misses", Below("a", "g", 10, 10, "%.0f"), false, "**MISSED** (equal to the bound, which must not be reached)"},
		{"NaN is skipped", AtLeast("a", "g", math.NaN(), 1, "%.2f"), false, "skipped (not measured)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.c.Met != tt.met || tt.c.Verdict() != tt.verdict {
				t.Errorf("met %v verdict %q; want %v %q", tt.c.Met, tt.c.Verdict(), tt.met, tt.verdict)
			}
		})
	}
}

func TestSVG(t *testing.T) {
	got := fixed().SVG()
	// Well-formed XML.
	d := xml.NewDecoder(strings.NewReader(got))
	for {
		_, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, got)
		}
	}
	for _, want := range []string{"<svg ", "edged &lt;mem&gt;", "Throughput", "p99 latency", "hit 1KiB c64", "<title>nginx, hit 1KiB c64: 50.0k req/s</title>"} {
		if !strings.Contains(got, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	// Two panels × three measured targets; the skipped one has no bar.
	if n := strings.Count(got, "<title>"); n != 6 {
		t.Errorf("%d bars, want 6", n)
	}
}

func TestNiceCeilAndShort(t *testing.T) {
	for _, tt := range []struct{ in, want float64 }{{0, 1}, {0.7, 1}, {1.5, 2}, {3, 5}, {7, 10}, {42000, 50000}, {100, 100}} {
		if got := niceCeil(tt.in); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("niceCeil(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
	for _, tt := range []struct {
		in   float64
		want string
	}{{1234567, "1.23M"}, {45200, "45.2k"}, {512, "512"}, {0.123, "0.123"}} {
		if got := short(tt.in); got != tt.want {
			t.Errorf("short(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
