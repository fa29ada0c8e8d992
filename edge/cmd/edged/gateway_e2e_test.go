package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestEndToEndGatewayRouting runs the binary with a configuration that uses
// the three gateway features together, as a file spells them: a route
// chosen by a header, a CORS policy, and a client_ip_hash pool behind a
// trusted proxy (this test, on 127.0.0.1, plays the proxy).
func TestEndToEndGatewayRouting(t *testing.T) {
	web, canary := namedOrigin(t, "web"), namedOrigin(t, "canary")
	var apps []string
	for i := range 3 {
		name := fmt.Sprint("app", i)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Served-By", name)
			w.Header().Set("Cache-Control", "no-store")
		}))
		t.Cleanup(srv.Close)
		apps = append(apps, srv.URL)
	}
	p := runSites(t, fmt.Sprintf(`server:
  trusted_proxies: [127.0.0.1]
pools:
  web: {servers: [{url: %s}]}
  canary: {servers: [{url: %s}]}
  app:
    algorithm: client_ip_hash
    servers: [{url: %s}, {url: %s}, {url: %s}]
sites:
  - name: one
    hosts: [one.test]
    routes:
      - {path: /, pool: web, cors: {allowed_origins: [https://app.one.test]}}
      - {path: /, pool: canary, match: {headers: {X-Canary: "1"}}}
      - {path: /session/, pool: app}
`, web.URL, canary.URL, apps[0], apps[1], apps[2]))

	// The header chooses the route; each route's copy is its own.
	for round := range 2 {
		for _, tt := range []struct{ canary, want string }{{"", "web one.test /a\n"}, {"1", "canary one.test /a\n"}} {
			resp, body := fetch(t, p.public+"/a", "Host", "one.test", "X-Canary", tt.canary, "Origin", "https://app.one.test")
			if body != tt.want {
				t.Errorf("round %d, X-Canary %q: body %q, want %q (Cache-Status %q)", round, tt.canary, body, tt.want, resp.Header.Get("Cache-Status"))
			}
			// The CORS policy is the web route's only.
			wantACAO := ""
			if tt.canary == "" {
				wantACAO = "https://app.one.test"
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != wantACAO {
				t.Errorf("X-Canary %q: Access-Control-Allow-Origin %q, want %q", tt.canary, got, wantACAO)
			}
		}
	}
	// Another origin gets the cached copy without the first one's fields.
	if resp, _ := fetch(t, p.public+"/a", "Host", "one.test", "Origin", "https://evil.test"); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("evil origin got Access-Control-Allow-Origin %q", resp.Header.Get("Access-Control-Allow-Origin"))
	}

	// Each forwarded client keeps its server; the clients use them all.
	used := map[string]bool{}
	for i := range 20 {
		client := fmt.Sprintf("198.51.100.%d", i+1)
		first := ""
		for range 2 {
			resp, _ := fetch(t, p.public+"/session/x", "Host", "one.test", "X-Forwarded-For", client)
			got := resp.Header.Get("X-Served-By")
			if first == "" {
				first = got
			} else if got != first {
				t.Errorf("client %s moved from %s to %s", client, first, got)
			}
		}
		used[first] = true
	}
	if len(used) != 3 {
		t.Errorf("20 clients reached %v, want all 3 servers", used)
	}
	if code := p.stop(t); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
}

// TestRouteConditionsAroundGuardsWarn is the operator's mistake of a
// canary route (match: X-Canary: 1) without the auth of the route it
// shares a path with: the conditions are the client's to send, so any
// client that sends the header is served the canary without credentials.
// The configuration is valid (a condition chooses an upstream, it is not
// access control), and the node now says so at start, naming the route's
// line and what it lacks; a conditional route with the same guards is not
// named.
func TestRouteConditionsAroundGuardsWarn(t *testing.T) {
	web, canary := namedOrigin(t, "web"), namedOrigin(t, "canary")
	t.Setenv("TEST_GUARD_KEYS", "k1")
	p := runSites(t, fmt.Sprintf(`pools:
  web: {servers: [{url: %s}]}
  canary: {servers: [{url: %s}]}
sites:
  - name: one
    hosts: [one.test]
    routes:
      - path: /
        pool: web
        auth: {api_keys: {keys_env: TEST_GUARD_KEYS}}
        rate_limit: {rate: 100}
      - path: /
        pool: canary
        match: {headers: {X-Canary: "1"}}
      - path: /admin/
        pool: web
        access: {allow: [10.0.0.0/8]}
      - path: /admin/
        pool: canary
        access: {allow: [10.0.0.0/8]}
        match: {cookies: {beta: "1"}}
`, web.URL, canary.URL))
	// What the warning is about: the header passes the route's auth.
	if resp, body := fetch(t, p.public+"/a", "Host", "one.test", "X-Canary", "1"); resp.StatusCode != http.StatusOK || body != "canary one.test /a\n" {
		t.Errorf("X-Canary without credentials: %d %q", resp.StatusCode, body)
	}
	logs := p.stderr.String()
	want := "edged.yaml:18: sites[0].routes[1].match: any client that sends these conditions is served by this route, which lacks the auth and rate_limit of routes[0]"
	if !strings.Contains(logs, want) {
		t.Errorf("no warning %q in:\n%s", want, logs)
	}
	if strings.Contains(logs, "routes[3]") {
		t.Errorf("a conditional route with its path's guards was warned about:\n%s", logs)
	}
}
