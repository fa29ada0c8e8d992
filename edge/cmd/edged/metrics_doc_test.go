package main

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// metricsDoc is docs/metrics.md, from this package's directory.
var metricsDoc = filepath.Join("..", "..", "..", "docs", "metrics.md")

// describedNames returns the name of every metric reg can export, series
// or not yet: what its collectors describe.
func describedNames(t testing.TB, reg *prometheus.Registry) []string {
	t.Helper()
	ch := make(chan *prometheus.Desc)
	go func() { reg.Describe(ch); close(ch) }()
	// Desc has no accessor for its name; its String form is stable:
	// Desc{fqName: "edged_x", help: ...}.
	fqName := regexp.MustCompile(`^Desc\{fqName: "([^"]+)"`)
	var names []string
	for d := range ch {
		m := fqName.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read the name of %s", d)
		}
		names = append(names, m[1])
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// documentedNames returns the metric names docs/metrics.md documents: the
// first cell of its table rows, `edged_...`.
func documentedNames(t testing.TB) []string {
	t.Helper()
	f, err := os.Open(metricsDoc)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile("^\\| `([a-z_:][a-z0-9_:]*)` \\|")
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := row.FindStringSubmatch(sc.Text()); m != nil {
			names = append(names, m[1])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

// exportingNodes start nodes whose registries hold every metric edged can
// export: an edge with sites, pools, shields, TLS and the purge bus, and a
// forward proxy with its access log on. It returns their registries.
func exportingNodes(t *testing.T) []*prometheus.Registry {
	t.Helper()
	o, _ := countingOrigin(t)
	dir := t.TempDir()
	ca := newTestCA(t)
	cert, key := filepath.Join(dir, "a.crt"), filepath.Join(dir, "a.key")
	ca.issue(t, cert, key, "a.test")
	edge := startFleetNode(t, parseNodeConfig(t, fmt.Sprintf(`
upstream: {shields: [%s]}
tls:
  listen: 127.0.0.1:0
  certificates: [{cert: %s, key: %s}]
pools:
  web: {servers: [{url: %s}]}
sites:
  - name: a
    hosts: [a.test]
    routes: [{path: /, pool: web}]
`, o.URL, cert, key, o.URL)))
	cfg := parseNodeConfig(t, "role: forward\nforward: {dial: {allow_networks: [127.0.0.1/32]}}\nlog: {access: true, level: error}\n")
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	forward := serveNode(t, cfg, io.Discard) // startFleetNode turns the access log off
	return []*prometheus.Registry{edge.n.reg, forward.n.reg}
}

// TestMetricsDocumented: docs/metrics.md documents every metric edged can
// export, and nothing it does not (go_* and process_*, client_golang's
// standard collectors, are documented as families), so the page cannot
// drift from the code.
func TestMetricsDocumented(t *testing.T) {
	exported := map[string]bool{}
	for _, reg := range exportingNodes(t) {
		for _, name := range describedNames(t, reg) {
			if !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") {
				exported[name] = true
			}
		}
	}
	documented := map[string]bool{}
	for _, name := range documentedNames(t) {
		if documented[name] {
			t.Errorf("docs/metrics.md documents %s twice", name)
		}
		documented[name] = true
	}
	for _, name := range slices.Sorted(maps.Keys(exported)) {
		if !documented[name] {
			t.Errorf("%s is exported but not in docs/metrics.md", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(documented)) {
		if !exported[name] {
			t.Errorf("docs/metrics.md documents %s, which no node exports", name)
		}
	}
	if len(exported) < 40 {
		t.Errorf("only %d metrics found: the nodes do not export what edged has", len(exported))
	}
}
