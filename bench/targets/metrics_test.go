package targets

import (
	"fmt"
	"strings"
	"testing"
)

const sample = `# HELP edged_requests_total Client requests by cache outcome.
# TYPE edged_requests_total counter
edged_requests_total{cache="hit"} 90
edged_requests_total{cache="miss"} 10
edged_storage_entries{tier="disk"} 1e+06
edged_coalesced_waiters_total 3 1700000000000
odd{a="x} y"} 2
`

func TestParseMetrics(t *testing.T) {
	m, err := ParseMetrics(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	want := Metrics{
		`edged_requests_total{cache="hit"}`:  90,
		`edged_requests_total{cache="miss"}`: 10,
		`edged_storage_entries{tier="disk"}`: 1e6,
		`edged_coalesced_waiters_total`:      3,
		`odd{a="x} y"}`:                      2,
	}
	if len(m) != len(want) {
		t.Errorf("got %d series, want %d: %v", len(m), len(want), m)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	for _, bad := range []string{"novalue\n", "x{a=\"b\"}\n", "x notanumber\n"} {
		if _, err := ParseMetrics(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseMetrics(%q): no error", bad)
		}
	}
}

func TestHitRatio(t *testing.T) {
	before := Metrics{`edged_requests_total{cache="hit"}`: 10, `edged_requests_total{cache="miss"}`: 10}
	after := Metrics{`edged_requests_total{cache="hit"}`: 85, `edged_requests_total{cache="miss"}`: 30, `edged_requests_total{cache="stale"}`: 5}
	// The labels edged adds beside the outcome are summed over.
	labelled := Metrics{
		`edged_requests_total{cache="hit",route="/",site="www",status="2xx"}`:   80,
		`edged_requests_total{cache="hit",route="/a/",site="www",status="3xx"}`: 5,
		`edged_requests_total{cache="miss",route="/",site="www",status="2xx"}`:  30,
		`edged_requests_total{cache="stale",route="",site="",status="2xx"}`:     5,
	}
	if got, want := labelled.Requests(), after.Requests(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Requests() with labels = %v, want %v", got, want)
	}
	ratio, total := HitRatio(before, after)
	if total != 100 || ratio != 0.75 {
		t.Errorf("HitRatio = %v of %v, want 0.75 of 100", ratio, total)
	}
	if r, n := HitRatio(after, after); r != 0 || n != 0 {
		t.Errorf("HitRatio(no change) = %v, %v; want 0, 0", r, n)
	}
}
