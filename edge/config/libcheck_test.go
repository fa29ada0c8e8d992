package config

import (
	"errors"
	"strings"
	"testing"
)

// TestLibraryProblemsAtTheirLine checks that a bad value which only a
// library's Options.Validate rejects (edge/config keeps no copy of the
// check) comes back as a *FieldError naming the YAML field and its line,
// once, for every library whose options the file makes.
func TestLibraryProblemsAtTheirLine(t *testing.T) {
	t.Setenv("TEST_LIB_SECRET", strings.Repeat("s", 32))
	const route = "upstream: {origin: http://o}\nsites:\n  - name: s\n    hosts: [a.test]\n    routes:\n      - path: /\n"
	tests := []struct {
		name, in, want string
	}{
		{"origin.Options", "upstream:\n  origin: http://o\n  connect_timeout: 0s\n",
			"edged.yaml:3: upstream.connect_timeout: must be positive, got 0s"},
		{"origin.PoolOptions", sitesYAML[:strings.Index(sitesYAML, "    retries: 0")] + "    retries: 0\n    ejection: {backoff: 0s}\n" +
			sitesYAML[strings.Index(sitesYAML, "  web:"):],
			"edged.yaml:9: pools.api.ejection.backoff: must be positive, got 0s"},
		{"origin pool timeouts from upstream, once", "upstream:\n  header_timeout: 0s\npools: {p: {servers: [{url: http://a}]}}\n" +
			"sites: [{name: s, hosts: [a.test], routes: [{path: /, pool: p}]}]\n",
			"edged.yaml:2: upstream.header_timeout: must be positive, got 0s"},
		{"storage.Options", "upstream: {origin: http://o}\ncache:\n  disk: 1MiB\n  max_object: 1KiB\n  write_queue: -3\n",
			"edged.yaml:5: cache.write_queue: must be positive, got -3"},
		{"edge.Options", "upstream: {origin: http://o}\nserver:\n  request_body_min_rate: 1KiB\n  max_body_bytes: 0\n  write_timeout: -1s\n",
			"edged.yaml:5: server.write_timeout: must not be negative (0 means no limit), got -1s"},
		{"policy.Options in edge.Options", "upstream: {origin: http://o}\ncache: {heuristic_max: -1h}\n",
			"edged.yaml:2: cache.heuristic_max: must be positive, got -1h0m0s"},
		{"policy.Options of a site", "upstream: {origin: http://o}\nsites:\n  - name: s\n    hosts: [a.test]\n    max_stale: -1s\n    routes: [{path: /}]\n",
			"edged.yaml:5: sites[0].max_stale: must not be negative, got -1s"},
		{"compress.Options", "upstream: {origin: http://o}\ncompression:\n  enabled: false\n  brotli_level: 0\n",
			"edged.yaml:4: compression.brotli_level: must be 1 to 11, got 0"},
		{"origin.Options of a site's shields", "upstream: {origin: http://o}\nsites:\n  - name: s\n    hosts: [a.test]\n" +
			"    shields: [http://s1, http://s1]\n    routes: [{path: /}]\n",
			`edged.yaml:5: sites[0].shields[1]: repeated shield "http://s1"`},
		{"ratelimit.Options", route + "        rate_limit: {rate: 1, burst: -2}\n",
			"edged.yaml:7: sites[0].routes[0].rate_limit.burst: must not be negative, got -2"},
		{"access.Rules", route + "        access: {deny_paths: [admin]}\n",
			`edged.yaml:7: sites[0].routes[0].access.deny_paths[0]: must start with /, got "admin"`},
		{"auth.Options", route + "        auth:\n          jwt: {hmac_secret_env: TEST_LIB_SECRET, leeway: -1s}\n",
			"edged.yaml:8: sites[0].routes[0].auth.jwt.leeway: must not be negative, got -1s"},
		{"purge.Options", "upstream: {origin: http://o}\npurge:\n  retention: 0s\n",
			"edged.yaml:3: purge.retention: must be positive, got 0s"},
		// Left out, max_object keeps its default: the error is at the
		// cache section that made it too large.
		{"max_object left out", "upstream: {origin: http://o}\ncache:\n  disk: 1MiB\n",
			"edged.yaml:3: cache.max_object: must not exceed cache.disk (1MiB), got 64MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := parseAndValidate(t, tt.in)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Validate = %v\nwant exactly %s", err, tt.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Line == 0 {
				t.Errorf("error %#v is not a *FieldError with a line", err)
			}
		})
	}
}

// parseAndValidate parses in, which must have no problem of fields or
// types, as edged.yaml and returns Validate's error.
func parseAndValidate(t *testing.T, in string) error {
	t.Helper()
	c, err := Parse([]byte(in), "edged.yaml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c.Validate()
}

func TestYAMLMapPath(t *testing.T) {
	m := yamlMap{under: "pools.api", fields: map[string]string{
		"ConnectTimeout": "upstream.connect_timeout", "Strip": "server.strip", "Store": "",
	}}
	tests := []struct {
		goPath, want string
		ok           bool
	}{
		{"Health.Interval", "pools.api.health.interval", true},
		{"Servers[1].URL", "pools.api.servers[1].url", true},
		{"MaxIdlePerHost", "pools.api.max_idle_per_host", true},
		{"ConnectTimeout", "upstream.connect_timeout", true},
		{"Strip[2]", "server.strip[2]", true},
		{"StripX", "pools.api.strip_x", true},
		{"Store", "", false},
	}
	for _, tt := range tests {
		if got, ok := m.path(tt.goPath); got != tt.want || ok != tt.ok {
			t.Errorf("path(%q) = %q, %v; want %q, %v", tt.goPath, got, ok, tt.want, tt.ok)
		}
	}
}

// TestLibraryProblemsInOnePass: the problems every library finds in one
// file come back together, sorted by line, each once.
func TestLibraryProblemsInOnePass(t *testing.T) {
	in := "upstream:\n  origin: http://o\n  connect_timeout: 0s\n" + // origin
		"cache:\n  write_queue: 0\n  heuristic_max: 0s\n" + // storage, policy
		"server:\n  request_body_timeout: 0s\n" + // edge
		"compression:\n  gzip_level: 10\n" + // compress
		"sites:\n  - name: s\n    hosts: [a.test]\n    routes:\n" +
		"      - path: /\n        rate_limit: {rate: -1}\n        access: {deny_paths: [x]}\n"
	want := []string{
		"edged.yaml:3: upstream.connect_timeout: must be positive, got 0s",
		"edged.yaml:5: cache.write_queue: must be positive, got 0",
		"edged.yaml:6: cache.heuristic_max: must be positive, got 0s",
		"edged.yaml:8: server.request_body_timeout: must be positive, got 0s",
		"edged.yaml:10: compression.gzip_level: must be 1 to 9, got 10",
		"edged.yaml:16: sites[0].routes[0].rate_limit.rate: must be a positive number of requests per second, got -1",
		`edged.yaml:17: sites[0].routes[0].access.deny_paths[0]: must start with /, got "x"`,
	}
	err := parseAndValidate(t, in)
	if err == nil {
		t.Fatal("Validate accepted it")
	}
	if err.Error() != strings.Join(want, "\n") {
		t.Errorf("Validate =\n%s\nwant\n%s", err, strings.Join(want, "\n"))
	}
}
