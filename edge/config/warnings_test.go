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
	var got []string
	for _, w := range c.Warnings() {
		got = append(got, w.Error())
	}
	want := []string{
		"edged.yaml:7: sites[0].routes[1].match: any client that sends these conditions is served by this route, which lacks the waf of routes[0] (where its path goes without them): give it the same guards",
		// A path with only conditional routes goes to a shorter one's.
		"edged.yaml:9: sites[0].routes[3].match: any client that sends these conditions is served by this route, which lacks the access and waf of routes[0] (where its path goes without them): give it the same guards",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
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
