package config

import (
	"strings"
	"testing"
	"time"

	"edged/edge"
)

// protocolsYAML is a valid configuration using every protocol setting;
// tests change one line of it (line numbers matter).
const protocolsYAML = `upstream:
  origin: http://127.0.0.1:9000
sites:
  - name: api
    hosts: [api.example]
    routes:
      - path: /
      - path: /ws/
        websocket: {enabled: true, idle_timeout: 30s, max_per_client: 4, max_duration: 90m}
      - path: /v1/users/{id}
        upstream_path: /users/{id}
        request_headers: {set: {X-User: "{id}"}}
        transform: {json_to_xml: true, max_body: 64KiB}
`

func protocolSites(t *testing.T, in string) []*edge.Site {
	t.Helper()
	sites, err := testSites(t, parseValid(t, in))
	if err != nil {
		t.Fatal(err)
	}
	return sites
}

func TestProtocolSettings(t *testing.T) {
	sites := protocolSites(t, protocolsYAML)
	byPrefix := map[string]*edge.Route{}
	for _, r := range sites[0].Routes {
		byPrefix[r.PathPrefix] = r
	}
	if r := byPrefix["/"]; r.WebSocket != nil || r.Transform != nil || r.Pattern != nil {
		t.Errorf("route / has protocol settings it did not ask for: %+v", r)
	}
	if ws := byPrefix["/ws/"].WebSocket; ws == nil || ws.IdleTimeout != 30*time.Second || ws.MaxPerClient != 4 || ws.MaxDuration != 90*time.Minute {
		t.Errorf("websocket = %+v", ws)
	}
	// Unset is edge's default (0); the file's 0 is no limit (negative).
	for _, tt := range []struct {
		field string
		want  time.Duration
	}{{"", 0}, {", max_duration: 0s", -1}} {
		in := strings.Replace(protocolsYAML, ", max_duration: 90m", tt.field, 1)
		for _, r := range protocolSites(t, in)[0].Routes {
			if r.PathPrefix == "/ws/" && r.WebSocket.MaxDuration != tt.want {
				t.Errorf("max_duration %q: MaxDuration = %v, want %v", tt.field, r.WebSocket.MaxDuration, tt.want)
			}
		}
	}
	r := byPrefix["/v1/users/"]
	if r == nil || r.Pattern == nil || r.Pattern.String() != "/v1/users/{id}" || r.UpstreamPath != "/users/{id}" {
		t.Fatalf("pattern route = %+v", r)
	}
	if r.Transform == nil || !r.Transform.JSONToXML || r.Transform.MaxBody != 64<<10 {
		t.Errorf("transform = %+v", r.Transform)
	}
}

func TestProtocolErrors(t *testing.T) {
	tests := []struct {
		name string
		line int
		repl string
		want string
	}{
		{"idle negative", 9, "        websocket: {enabled: true, idle_timeout: -1s}", "edged.yaml:9: sites[0].routes[1].websocket.idle_timeout: must not be negative, got -1s"},
		{"cap negative", 9, "        websocket: {enabled: true, max_per_client: -1}", "edged.yaml:9: sites[0].routes[1].websocket.max_per_client: must not be negative, got -1"},
		// A 0 here read as the default (60s, 16), where 0 elsewhere is no
		// limit: written in the file it is refused.
		{"idle zero", 9, "        websocket: {enabled: true, idle_timeout: 0s}", "edged.yaml:9: sites[0].routes[1].websocket.idle_timeout: 0 is not a timeout: leave it out for 60s"},
		{"cap zero", 9, "        websocket: {enabled: true, max_per_client: 0}", "edged.yaml:9: sites[0].routes[1].websocket.max_per_client: 0 is not a limit here: leave it out for 16"},
		{"duration negative", 9, "        websocket: {enabled: true, max_duration: -1m}", "edged.yaml:9: sites[0].routes[1].websocket.max_duration: must not be negative (0 means no limit), got -1m0s"},
		{"duration not enabled", 9, "        websocket: {max_duration: 0s}", "edged.yaml:9: sites[0].routes[1].websocket.enabled: websocket settings have no effect without enabled: true"},
		{"not enabled", 9, "        websocket: {idle_timeout: 5s}", "edged.yaml:9: sites[0].routes[1].websocket.enabled: websocket settings have no effect without enabled: true"},
		{"unknown field", 9, "        websocket: {enable: true}", `edged.yaml:9: unknown field "enable" in sites[0].routes[1].websocket`},
		{"bad pattern", 10, "      - path: /v1/users/{id}x", `edged.yaml:10: sites[0].routes[2].path: invalid path pattern: segment "{id}x"`},
		{"same prefix", 10, "      - path: /ws/{id}", `edged.yaml:10: sites[0].routes[2].path: pattern "/ws/{id}" is routed by its literal prefix "/ws/", which routes[1] ("/ws/") has too`},
		{"unknown capture", 11, "        upstream_path: /users/{uid}", "edged.yaml:11: sites[0].routes[2].upstream_path: {uid} is not a capture of /v1/users/{id} (captures: id)"},
		{"upstream path query", 11, "        upstream_path: /users/{id}?x=1", "edged.yaml:11: sites[0].routes[2].upstream_path: must start with / and have no query"},
		{"upstream path without pattern", 10, "      - path: /v1/users/", "edged.yaml:11: sites[0].routes[2].upstream_path: needs a path with {captures}"},
		{"upstream path and strip", 11, "        upstream_path: /users/{id}\n        strip_prefix: true", "edged.yaml:11: sites[0].routes[2].upstream_path: conflicts with strip_prefix"},
		{"max body without transform", 13, "        transform: {max_body: 1MiB}", "edged.yaml:13: sites[0].routes[2].transform.max_body: has no effect without transform.json_to_xml: true"},
		{"max body unit", 13, "        transform: {json_to_xml: true, max_body: 1XB}", "edged.yaml:13"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := strings.Split(protocolsYAML, "\n")
			lines[tt.line-1] = tt.repl
			c, err := Parse([]byte(strings.Join(lines, "\n")), "edged.yaml")
			if err == nil {
				err = c.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}
