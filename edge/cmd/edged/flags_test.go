package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"edged/edge/config"
)

func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParseArgsFlagsOverrideFile(t *testing.T) {
	file := writeFile(t, "edged.yaml", `
name: from-file
listen: 127.0.0.1:1000
admin: 127.0.0.1:1001
data: /file/data
upstream:
  origin: http://file-origin
  shields: [http://file-shield]
cache:
  memory: 1MiB
`)
	// The certificate files must exist: parseArgs reads them.
	certDir := t.TempDir()
	certFile, keyFile := filepath.Join(certDir, "a.crt"), filepath.Join(certDir, "a.key")
	newTestCA(t).issue(t, certFile, keyFile, "a.test")
	tlsFile := writeFile(t, "tls.yaml", fmt.Sprintf("upstream: {origin: 'http://o'}\ntls: {certificates: [{cert: %s, key: %s}]}\n", certFile, keyFile))
	tests := []struct {
		name string
		args []string
		got  func(*config.Config) any
		want any
	}{
		{"file only", []string{"-config", file}, func(c *config.Config) any { return []string{c.Listen, c.Admin, c.Data, c.Name} },
			[]string{"127.0.0.1:1000", "127.0.0.1:1001", "/file/data", "from-file"}},
		{"listen", []string{"-config", file, "-listen", "127.0.0.1:2000"}, func(c *config.Config) any { return c.Listen }, "127.0.0.1:2000"},
		{"tls-listen", []string{"-config", tlsFile, "-tls-listen", "127.0.0.1:2443"}, func(c *config.Config) any { return c.TLS.Listen }, "127.0.0.1:2443"},
		{"admin", []string{"-config", file, "-admin", "127.0.0.1:2001"}, func(c *config.Config) any { return c.Admin }, "127.0.0.1:2001"},
		{"admin off", []string{"-config", file, "-admin", ""}, func(c *config.Config) any { return c.Admin }, ""},
		{"data", []string{"-config", file, "-data", "/flag/data"}, func(c *config.Config) any { return c.Data }, "/flag/data"},
		{"origin", []string{"-config", file, "-origin", "http://flag-origin"}, func(c *config.Config) any { return c.Upstream.Origin }, "http://flag-origin"},
		{"shields replace", []string{"-config", file, "-shield", "http://a", "-shield", "http://b"},
			func(c *config.Config) any { return c.Upstream.Shields }, []string{"http://a", "http://b"}},
		{"nats servers", []string{"-config", file, "-nats", "nats://n1:4222", "-nats", "nats://n2:4222,nats://n3:4222"},
			func(c *config.Config) any { return c.Purge.NATS.Servers() }, []string{"nats://n1:4222", "nats://n2:4222", "nats://n3:4222"}},
		{"role", []string{"-config", file, "-role", "shield"}, func(c *config.Config) any { return c.Role }, "shield"},
		{"name", []string{"-config", file, "-name", "pop1"}, func(c *config.Config) any { return c.CacheName() }, "pop1"},
		{"file kept where no flag", []string{"-config", file, "-listen", ":1"}, func(c *config.Config) any { return c.Cache.Memory.String() }, "1MiB"},
		{"no file", []string{"-origin", "http://o", "-data", "d"},
			func(c *config.Config) any {
				return []string{c.Listen, c.Admin, c.Data, c.Upstream.Origin, c.CacheName()}
			},
			[]string{"127.0.0.1:8080", "127.0.0.1:8081", "d", "http://o", "edged"}},
		{"shield role default name", []string{"-origin", "http://o", "-role", "shield"}, func(c *config.Config) any { return c.CacheName() }, "edged-shield"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseArgs(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.got(cfg); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseArgsErrors(t *testing.T) {
	bad := writeFile(t, "edged.yaml", "upstream:\n  origin: http://o\ncache:\n  memory: 12XB\n")
	good := writeFile(t, "good.yaml", "role: edge\nupstream:\n  origin: http://o\n")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no origin", nil, "upstream.origin: required unless upstream.shields or sites are set"},
		{"bad file", []string{"-config", bad}, bad + `:4: cache.memory: invalid size "12XB"`},
		{"missing file", []string{"-config", "/nonexistent/edged.yaml"}, "no such file"},
		{"unknown flag", []string{"-bogus"}, "flag provided but not defined: -bogus"},
		{"positional", []string{"-origin", "http://o", "extra"}, `unexpected argument "extra"`},
		// A flag's bad value is reported without a line of the file.
		{"bad flag value", []string{"-config", good, "-role", "edgy"}, `edged: role: must be edge, shield or forward, got "edgy"`},
		{"bad shield flag", []string{"-shield", "nope"}, `edged: upstream.shields[0]: invalid URL "nope"`},
		{"bad listen flag", []string{"-origin", "http://o", "-listen", "nope"}, `edged: listen: invalid address "nope"`},
		// No flag sets certificates: the message says where they go.
		{"tls-listen flag alone", []string{"-origin", "http://o", "-tls-listen", "127.0.0.1:8443"}, "edged: tls.certificates: required with tls.listen unless tls.acme is set: at least one {cert: file, key: file}, in the -config file (no flag sets them)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseArgs(tt.args)
			if err == nil {
				t.Fatal("no error")
			}
			var out bytes.Buffer
			printError(&out, err)
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("error %q\ndoes not contain %q", out.String(), tt.want)
			}
		})
	}
}

// TestParseArgsReportsEveryProblem: an unknown field, a value of the wrong
// type, a bad value and a missing certificate in one file are all reported
// by one run, each with its line (before, the unknown field hid the rest).
func TestParseArgsReportsEveryProblem(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.crt")
	file := writeFile(t, "edged.yaml", "role: edgy\ncache:\n  memroy: 1GiB\n  write_queue: lots\n"+
		"upstream: {origin: 'http://o'}\ntls:\n  listen: 127.0.0.1:0\n  certificates: [{cert: "+missing+", key: "+missing+"}]\n")
	_, err := parseArgs([]string{"-config", file})
	if err == nil {
		t.Fatal("no error")
	}
	var out bytes.Buffer
	printError(&out, err)
	for _, want := range []string{
		file + `:1: role: must be edge, shield or forward, got "edgy"`,
		file + `:3: unknown field "memroy" in cache`,
		file + `:4: cache.write_queue: want an integer, got "lots"`,
		file + ":8: tls.certificates[0].cert: open " + missing,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestHelp(t *testing.T) {
	if _, err := parseArgs([]string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, &out, &errOut); code != exitOK {
		t.Errorf("exit code %d", code)
	}
	for _, want := range []string{"-config file", "-listen address", "-shield URL", "repeatable"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunConfigErrorExitCode(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"-role", "edgy"}, &out, &errOut)
	if code != exitConfig {
		t.Errorf("exit code %d, want %d", code, exitConfig)
	}
	// Every problem is reported, one per line.
	for _, want := range []string{`edged: role: must be edge, shield or forward`, "edged: upstream.origin: required"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr %q lacks %q", errOut.String(), want)
		}
	}
}

// TestParseArgsSitesError: a bad sites section stops edged before it starts,
// naming the field and its line.
func TestParseArgsSitesError(t *testing.T) {
	file := writeFile(t, "edged.yaml", `pools:
  api: {servers: [{url: http://127.0.0.1:9001}]}
  web: {servers: [{url: http://127.0.0.1:9002}]}
sites:
  - name: s
    hosts: [a.test]
    routes:
      - {path: /, pool: web}
      - path: /api/
        pool: apii
`)
	_, err := parseArgs([]string{"-config", file})
	want := file + `:10: sites[0].routes[1].pool: unknown pool "apii" (pools: api, web)`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("parseArgs = %v, want %q", err, want)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"-config", file}, &out, &errOut); code != exitConfig {
		t.Errorf("exit code %d, want %d", code, exitConfig)
	}
}
