package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runSites starts the binary with a configuration file of the lines
// every such test shares (127.0.0.1 listeners on free ports, a temporary
// data directory, no access log) followed by rest, and fails the test if
// it does not start. rest begins on the file's line 5.
func runSites(t testing.TB, rest string) *proc {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "edged.yaml")
	conf := "listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\ndata: " + t.TempDir() + "\nlog: {access: false}\n" + rest
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	p := runEdged(t, "-config", cfg)
	if p.public == "" {
		t.Fatalf("edged exited at start (%v)", p.exitErr)
	}
	return p
}

// namedOrigin answers "<name> <path>" for every request, cacheable.
func namedOrigin(t testing.TB, name string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		fmt.Fprintf(w, "%s %s %s\n", name, r.Host, r.URL.RequestURI())
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestEndToEndSites runs the binary with two sites and two pools: requests
// are routed by Host and path prefix, an unknown host gets 421.
func TestEndToEndSites(t *testing.T) {
	web, api := namedOrigin(t, "web"), namedOrigin(t, "api")
	p := runSites(t, fmt.Sprintf(`pools:
  web:
    servers: [{url: %s}]
  api:
    servers: [{url: %s}]
    algorithm: least_conn
    health: {path: /healthz, interval: 1s}
sites:
  - name: one
    hosts: [one.test]
    routes:
      - {path: /, pool: web}
      - {path: /api/, pool: api, strip_prefix: true, response_headers: {set: {X-Route: api}}}
  - name: two
    hosts: ["*.two.test"]
    routes:
      - {path: /, pool: api}
`, web.URL, api.URL))
	tests := []struct {
		host, path string
		status     int
		body       string
	}{
		{"one.test", "/a.txt", 200, "web one.test /a.txt\n"},
		{"one.test", "/api/v1/x?q=1", 200, "api one.test /v1/x?q=1\n"},
		{"One.Test:80", "/apix", 200, "web one.test /apix\n"},
		{"a.two.test", "/api/y", 200, "api a.two.test /api/y\n"},
		{"two.test", "/", http.StatusMisdirectedRequest, ""},
		{"unknown.test", "/a.txt", http.StatusMisdirectedRequest, ""},
	}
	for _, tt := range tests {
		resp, body := fetch(t, p.public+tt.path, "Host", tt.host)
		if resp.StatusCode != tt.status || (tt.body != "" && body != tt.body) {
			t.Errorf("GET %s%s = %d %q, want %d %q", tt.host, tt.path, resp.StatusCode, body, tt.status, tt.body)
		}
		if tt.status == http.StatusMisdirectedRequest && !strings.Contains(body, "no site") {
			t.Errorf("GET %s%s: 421 body %q does not say why", tt.host, tt.path, body)
		}
	}
	if resp, _ := fetch(t, p.public+"/api/v1/x?q=1", "Host", "one.test"); resp.Header.Get("X-Route") != "api" ||
		!strings.Contains(resp.Header.Get("Cache-Status"), "hit") {
		t.Errorf("second /api/ GET: X-Route %q, Cache-Status %q", resp.Header.Get("X-Route"), resp.Header.Get("Cache-Status"))
	}
	// The pools' metrics reach the node's registry.
	if _, metrics := fetch(t, p.admin+"/metrics"); !strings.Contains(metrics, `pool="api"`) {
		t.Errorf("/metrics lacks the api pool's series")
	}
	if code := p.stop(t); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
}
