package config

import (
	"strings"
	"testing"
)

func TestRestartNeeded(t *testing.T) {
	const before = `listen: 127.0.0.1:8080
log:
  level: info
server:
  max_body_bytes: 1MiB
pools:
  web:
    servers: [{url: "http://127.0.0.1:9001"}]
sites:
  - name: a
    hosts: [a.example]
    routes: [{path: /, pool: web}]
`
	parse := func(src string) *Config {
		t.Helper()
		c, err := Parse([]byte(src), "edged.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	live := []string{"sites", "pools", "log.level", "tls.certificates"}
	for _, tt := range []struct {
		name, after string
		want        []string // the lines of the error, in order; none: nil
	}{
		{"unchanged", before, nil},
		{"live fields only", strings.NewReplacer("level: info", "level: debug", "9001", "9002", "a.example", "b.example").Replace(before), nil},
		{"listen and a server field", strings.NewReplacer("8080", "8090", "1MiB", "2MiB").Replace(before),
			[]string{"edged.yaml:1: listen: cannot change while edged runs", "edged.yaml:5: server.max_body_bytes: cannot change"}},
		{"a field set beside a live one", before + "tls:\n  listen: 127.0.0.1:8443\n",
			[]string{"edged.yaml:14: tls.listen: cannot change"}},
		{"a field added to the file", strings.Replace(before, "listen: 127.0.0.1:8080\n", "listen: 127.0.0.1:8080\ndata: /var/cache/edged\n", 1),
			[]string{"edged.yaml:2: data: cannot change"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := parse(before).RestartNeeded(parse(tt.after), live...)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got nil, want %q", tt.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("got %q, want %d lines %q", lines, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("line %d = %q, want it to start with %q", i, lines[i], w)
				}
			}
		})
	}
}
