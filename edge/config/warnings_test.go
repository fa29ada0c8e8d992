package config

import (
	"strings"
	"testing"
)

func TestWarningsRouteConditionsAroundGuards(t *testing.T) {
	c := parseValid(t, `upstream: {origin: "http://127.0.0.1:9000"}
sites:
  - name: s
    hosts: [s.example]
    routes:
      - {path: /, access: {deny: [192.0.2.0/24]}, waf: {mode: block}}
      - {path: /, match: {query: {v: "2"}}, access: {deny: [192.0.2.0/24]}, waf: {mode: detect}}
      - {path: /, match: {cookies: {beta: "1"}}, access: {deny: [192.0.2.0/24]}, waf: {mode: block}}
      - {path: /api/, match: {headers: {X-Canary: "1"}}}
      - {path: /api/v2/, match: {headers: {X-Canary: "1"}}}
      - {path: /api/v2/}
`)
	want := []string{
		"edged.yaml:7: sites[0].routes[1].match: any client that sends these conditions is served by this route, which lacks the waf of routes[0] (where its path goes without them): give it the same guards",
		// A path with only conditional routes goes to a shorter one's.
		"edged.yaml:9: sites[0].routes[3].match: any client that sends these conditions is served by this route, which lacks the access and waf of routes[0] (where its path goes without them): give it the same guards",
	}
	wantWarnings(t, c, want)
}

func TestRateLimitIPv6PrefixField(t *testing.T) {
	site := func(rl string) string {
		return `upstream: {origin: "http://127.0.0.1:9000"}
sites:
  - name: s
    hosts: [s.example]
    routes:
      - path: /
        rate_limit: ` + rl + "\n"
	}
	if got := parseValid(t, site("{rate: 1, ipv6_prefix: 48}")).Sites[0].Routes[0].RateLimit.options().IPv6PrefixLen; got != 48 {
		t.Errorf("ipv6_prefix 48: IPv6PrefixLen %d", got)
	}
	if got := parseValid(t, site("{rate: 1}")).Sites[0].Routes[0].RateLimit.options().IPv6PrefixLen; got != 64 {
		t.Errorf("ipv6_prefix left out: IPv6PrefixLen %d, want 64", got)
	}
	for _, bad := range []string{"129", "-1"} {
		want := "edged.yaml:7: sites[0].routes[0].rate_limit.ipv6_prefix: must be 1 to 128, got " + bad
		if got := parseErr(t, site("{rate: 1, ipv6_prefix: "+bad+"}")); !strings.Contains(got, want) {
			t.Errorf("ipv6_prefix %s: %s\nwant %s", bad, got, want)
		}
	}
}

// TestWarningsForwardAllowOnRefusedPort: an allow rule for a port the
// proxy refuses before its rules (connect_ports for CONNECT, http_ports for
// the rest) never lets anything through: docs/forward.md's own
// "ssh-for-admins" (CONNECT to 22, with the default connect_ports [443])
// was such a rule, and started without a word.
func TestWarningsForwardAllowOnRefusedPort(t *testing.T) {
	c := parseValid(t, `role: forward
forward:
  http_ports: [80, "8000-8999"]
  rules:
    list:
      - {name: ssh, action: allow, methods: [CONNECT], ports: ["22", "443"]}
      - {name: web, action: allow, methods: [GET], ports: ["8080", "25"]}
      - {name: any, action: allow, ports: ["9000-9100", "8500-9500"]}
      - {name: no-smtp, action: deny, ports: ["25"]}
`)
	const tail = ", which the proxy checks before its rules (403): this rule never lets it through; add it there (and deny it below this rule to everyone else)"
	want := []string{
		"edged.yaml:6: forward.rules.list[0].ports[0]: 22 is not in forward.connect_ports" + tail,
		"edged.yaml:7: forward.rules.list[1].ports[1]: 25 is not in forward.http_ports" + tail,
		"edged.yaml:8: forward.rules.list[2].ports[0]: 9000-9100 is not in forward.connect_ports nor forward.http_ports" + tail,
	}
	wantWarnings(t, c, want)
}

// TestWarningsForwardAllowOnRefusedNetwork: an allow rule for a private
// destination network that forward.dial.allow_networks does not open never
// lets anything through (the dialer refuses it, 403 destination):
// docs/forward-rules.md's own intranet-staff-only rule was one.
func TestWarningsForwardAllowOnRefusedNetwork(t *testing.T) {
	c := parseValid(t, `role: forward
forward:
  dial: {allow_networks: [10.30.0.0/16]}
  rules:
    list:
      - {name: intranet, action: allow, dest_networks: [10.20.0.0/16, 10.30.1.0/24, 8.8.8.0/24, 0.0.0.0/0]}
      - {name: metadata, action: allow, dest_networks: [169.254.169.254]}
      - {name: no-intranet, action: deny, dest_networks: [10.0.0.0/8]}
`)
	const tail = ": the proxy refuses it whatever the rules say unless forward.dial.allow_networks lists it, so this rule never lets it through"
	want := []string{
		"edged.yaml:6: forward.rules.list[0].dest_networks[0]: 10.20.0.0/16 is private (RFC 1918)" + tail,
		"edged.yaml:7: forward.rules.list[1].dest_networks[0]: 169.254.169.254 is link-local (RFC 3927), home of the 169.254.169.254 metadata service" + tail,
	}
	wantWarnings(t, c, want)
}

// wantWarnings compares c's warnings, in order, with want.
func wantWarnings(t *testing.T, c *Config, want []string) {
	t.Helper()
	var got []string
	for _, w := range c.Warnings() {
		got = append(got, w.Error())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestWarningsRewriteIntoGuardedRoute: a route that sends its pool another
// path (strip_prefix, upstream_path) that another route of the site sends
// the same pool with guards the first lacks is named: "/static/admin/users"
// reaches the pool as "/admin/users", past the "/admin/" route's auth, and
// "/users" through "/" is what "/v2/users" sends with auth. Routes to
// another pool, routes that rewrite nothing, and a route whose deny_paths
// covers the guarded paths are not.
func TestWarningsRewriteIntoGuardedRoute(t *testing.T) {
	t.Setenv("EDGED_TEST_KEYS", "k1")
	c := parseValid(t, `upstream: {origin: "http://127.0.0.1:9000"}
pools:
  api: {servers: [{url: "http://127.0.0.1:9001"}]}
  v2: {servers: [{url: "http://127.0.0.1:9002"}]}
sites:
  - name: s
    hosts: [s.example]
    routes:
      - {path: /}
      - {path: /admin/, auth: {api_keys: {keys_env: EDGED_TEST_KEYS}}}
      - {path: /net/, access: {allow: [10.0.0.0/8]}}
      - {path: /static/, strip_prefix: true}
      - {path: /api/, pool: api, strip_prefix: true}
      - {path: /v3/, strip_prefix: true, access: {deny_paths: [/admin]}}
      - {path: "/u/{id}", upstream_path: "/admin/{id}"}
      - {path: "/p/{id}", upstream_path: "/public/{id}"}
  - name: t
    hosts: [t.example]
    routes:
      - {path: /, pool: v2}
      - {path: /v2/, pool: v2, strip_prefix: true, auth: {api_keys: {keys_env: EDGED_TEST_KEYS}}}
      - {path: /other/, strip_prefix: true}
`)
	wantWarnings(t, c, []string{
		`edged.yaml:12: sites[0].routes[3].strip_prefix: this route sends pool "default" paths under /admin/, which routes[1] sends it guarded by auth that this route lacks: any client reaches them through this route; give it the same guards, or list /admin in its access.deny_paths`,
		`edged.yaml:12: sites[0].routes[3].strip_prefix: this route sends pool "default" paths under /net/, which routes[2] sends it guarded by access that this route lacks: any client reaches them through this route; give it the same guards, or list /net in its access.deny_paths`,
		`edged.yaml:14: sites[0].routes[5].strip_prefix: this route sends pool "default" paths under /net/, which routes[2] sends it guarded by access that this route lacks: any client reaches them through this route; give it the same guards, or list /net in its access.deny_paths`,
		`edged.yaml:15: sites[0].routes[6].upstream_path: this route sends pool "default" paths under /admin/, which routes[1] sends it guarded by auth that this route lacks: any client reaches them through this route; give it the same guards, or list /admin in its access.deny_paths`,
		`edged.yaml:21: sites[1].routes[1].strip_prefix: this route sends pool "v2" paths under / guarded by its auth, which routes[0] sends it without: any client reaches them through that route; give it the same guards, or this route a pool of its own`,
	})
}

// TestWarningsShieldTrustsNoEdge: a shield with pools that trusts no peer
// ignores the pool every edge names, silently mixing the pools' objects
// that edge routes rewrite to one path.
func TestWarningsShieldTrustsNoEdge(t *testing.T) {
	const pools = `role: shield
upstream:
  origin: http://127.0.0.1:9000
pools:
  a: {servers: [{url: http://127.0.0.1:9001}]}
`
	c := parseValid(t, pools)
	wantWarnings(t, c, []string{"edged.yaml:5: pools: a shield takes the pool an edge's route names only from server.trusted_proxies, which is empty: the pools edges name are ignored, and edge routes of different pools that send one URL share one entry here; list the edges' networks there (docs/config.md, \"Pools through shields\")"})
	wantWarnings(t, parseValid(t, pools+"server: {trusted_proxies: [10.0.0.0/8]}\n"), nil)
	wantWarnings(t, parseValid(t, "role: shield\nupstream: {origin: http://127.0.0.1:9000}\n"), nil)
}
