package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// grafanaDashboard is the example dashboard, from this package's directory.
var grafanaDashboard = filepath.Join("..", "..", "..", "examples", "grafana", "edged.json")

var (
	// Grafana's variables ($site, ${site}, $__rate_interval) are not PromQL.
	promVariable = regexp.MustCompile(`\$\{?\w+\}?`)
	promString   = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	promMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promRange    = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	// An identifier not inside a number ("5m", "1e3").
	promIdent = regexp.MustCompile(`(?:^|[^\w:.])([a-zA-Z_:][\w:]*)`)
	// The first argument of Grafana's label_values(metric, label).
	labelValues = regexp.MustCompile(`^\s*label_values\(\s*([a-zA-Z_:][\w:]*)\s*,`)
)

// promKeywords are PromQL's words that are neither metrics nor calls.
var promKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true}

// promqlMetricNames returns the metric names a PromQL expression selects: a
// small tokenizer, enough for dashboard queries. Strings, label matchers,
// ranges and grouping clauses are dropped; what remains that is an
// identifier, not a call (followed by "(") and not a keyword, is a metric.
func promqlMetricNames(expr string) []string {
	if m := labelValues.FindStringSubmatch(expr); m != nil {
		return []string{m[1]}
	}
	expr = promVariable.ReplaceAllString(expr, "")
	expr = promString.ReplaceAllString(expr, `""`)
	expr = promMatchers.ReplaceAllString(expr, " ")
	expr = promRange.ReplaceAllString(expr, " ")
	expr = promGrouping.ReplaceAllString(expr, " ")
	var names []string
	for _, loc := range promIdent.FindAllStringSubmatchIndex(expr, -1) {
		name, rest := expr[loc[2]:loc[3]], strings.TrimSpace(expr[loc[3]:])
		if strings.HasPrefix(rest, "(") || promKeywords[strings.ToLower(name)] {
			continue
		}
		names = append(names, name)
	}
	return names
}

func TestPromQLMetricNames(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{`rate(a_total[5m])`, "[a_total]"},
		{`sum by (site) (rate(a_total{site=~"$site", x="by (y)"}[$__rate_interval]))`, "[a_total]"},
		{`histogram_quantile(0.95, sum by (le, route) (rate(b_bucket{c="d"}[5m])))`, "[b_bucket]"},
		{`a / on(instance) group_left(x) b offset 1h`, "[a b]"},
		{`sum(x) / scalar(sum(y)) > bool 1e3`, "[x y]"},
		{`max(s - t) or vector(0)`, "[s t]"},
		{`label_values(edged_requests_total, site)`, "[edged_requests_total]"},
		{`up`, "[up]"},
	} {
		if got := fmt.Sprint(promqlMetricNames(tc.expr)); got != tc.want {
			t.Errorf("promqlMetricNames(%q) = %s, want %s", tc.expr, got, tc.want)
		}
	}
}

// dashboardQueries returns every PromQL query of a Grafana dashboard: the
// targets' "expr", and the variables' queries (a string, or an object with
// "query") unless they are datasource variables.
func dashboardQueries(t testing.TB, v any) []string {
	t.Helper()
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			switch {
			case k == "expr":
				out = append(out, x.(string))
			case k == "query" && v["type"] != "datasource":
				if q, ok := x.(map[string]any); ok {
					x = q["query"]
				}
				if s, ok := x.(string); ok {
					out = append(out, s)
				}
			default:
				out = append(out, dashboardQueries(t, x)...)
			}
		}
	case []any:
		for _, x := range v {
			out = append(out, dashboardQueries(t, x)...)
		}
	}
	return out
}

// scrapedNames returns the sample names of a node's /metrics: histograms
// appear with their _bucket, _sum and _count samples.
func scrapedNames(t testing.TB, f *fleetNode) map[string]bool {
	t.Helper()
	resp, err := http.Get(f.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	names := make(map[string]bool)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

// TestGrafanaDashboardQueries: every metric the example Grafana dashboard
// queries is one a real node exports once it served some traffic, and the
// dashboard has the panels docs/metrics.md promises (requests by site,
// hit ratio, latency per route, upstream latency per server, bytes by
// tier, storage fill, purge lag, origin up).
func TestGrafanaDashboardQueries(t *testing.T) {
	raw, err := os.ReadFile(grafanaDashboard)
	if err != nil {
		t.Fatal(err)
	}
	var dash any
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: %v", grafanaDashboard, err)
	}
	queries := dashboardQueries(t, dash)
	if len(queries) < 10 {
		t.Fatalf("%s: found %d queries, want the dashboard's", grafanaDashboard, len(queries))
	}

	o, _ := countingOrigin(t)
	f := startFleetNode(t, parseNodeConfig(t, fmt.Sprintf(`pools:
  web: {servers: [{url: %s}], health: {path: /, interval: 1h}}
sites:
  - name: shop
    hosts: [www.example.com]
    routes: [{path: /, pool: web}]
`, o.URL)))
	for _, path := range []string{"/a", "/a", "/b"} { // a miss, a hit, another miss
		f.get(t, path)
	}
	f.purge(t, `{"urls": ["http://www.example.com/a"]}`)
	exported := scrapedNames(t, f)

	used := make(map[string]bool)
	for _, q := range queries {
		names := promqlMetricNames(q)
		if len(names) == 0 {
			t.Errorf("query %q selects no metric", q)
		}
		for _, name := range names {
			used[name] = true
			if !exported[name] {
				t.Errorf("query %q: %s is not exported by edged", q, name)
			}
		}
	}
	for _, want := range []string{
		"edged_requests_total", "edged_tier_hits_total", "edged_request_seconds_bucket",
		"edged_origin_response_seconds_bucket", "edged_served_bytes_total", "edged_storage_bytes",
		"edged_storage_capacity_bytes", "edged_purge_lag_seconds_bucket", "edged_origin_up",
	} {
		if !used[want] {
			t.Errorf("the dashboard has no panel on %s", want)
		}
	}
	if t.Failed() {
		t.Logf("queried: %v", slices.Sorted(maps.Keys(used)))
	}
}
