package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestCheckReportsEveryKind: one file with an unknown field, values of the
// wrong type (scalars, a custom size and duration, a list item, inside a
// pool and a route), bad values and missing or mismatched TLS files gets
// every problem back from one Check, each with its line and field, sorted
// by line. Before, the unknown field hid everything else, a bad duration
// hid the type errors after it, and each TLS file failed one run at a time.
func TestCheckReportsEveryKind(t *testing.T) {
	dir := t.TempDir()
	aCert, _ := writeCert(t, dir, "a", "a.test")
	_, bKey := writeCert(t, dir, "b", "b.test")
	missing := filepath.Join(dir, "missing")
	in := `role: edgy
cache:
  memroy: 1GiB
  memory: 12XB
  write_queue: lots
server:
  idle_timeout: 5
  trusted_proxies: [10.0.0.0/8, {a: 1}, nope]
compression: {gzip_level: 20}
tls:
  listen: 127.0.0.1:8443
  certificates:
    - {cert: ` + missing + `.crt, key: ` + missing + `.key}
    - {cert: ` + aCert + `, key: ` + bKey + `}
upstream:
  origin: http://127.0.0.1:9000
  tls:
    ca_file: ` + missing + `-ca.pem
pools:
  web:
    servers: [{url: http://127.0.0.1:9001, weight: heavy}]
sites:
  - name: s
    hosts: [a.test]
    routes:
      - {path: /, pool: web, cache: {default_ttl: 10}}
      - {path: /api/, pool: apii}
`
	c, err := Parse([]byte(in), "e.yaml")
	if c == nil {
		t.Fatalf("Parse gave no Config: %v", err)
	}
	if err == nil {
		t.Fatal("Parse found nothing wrong")
	}
	want := []string{
		`e.yaml:1: role: must be edge, shield or forward, got "edgy"`,
		`e.yaml:3: unknown field "memroy" in cache`,
		`e.yaml:4: cache.memory: invalid size "12XB"`,
		`e.yaml:5: cache.write_queue: want an integer, got "lots"`,
		`e.yaml:7: server.idle_timeout: invalid duration "5"`,
		`e.yaml:8: server.trusted_proxies[1]: want a string, got a mapping`,
		`e.yaml:8: server.trusted_proxies[2]: invalid network "nope"`,
		`e.yaml:9: compression.gzip_level: must be 1 to 9, got 20`,
		`e.yaml:13: tls.certificates[0].cert: open ` + missing + `.crt`,
		`e.yaml:13: tls.certificates[0].key: open ` + missing + `.key`,
		`e.yaml:14: tls.certificates[1].cert: ` + aCert + ` with key ` + bKey,
		`e.yaml:18: upstream.tls.ca_file: open ` + missing + `-ca.pem`,
		`e.yaml:21: pools.web.servers[0].weight: want an integer, got "heavy"`,
		`e.yaml:26: sites[0].routes[0].cache.default_ttl: invalid duration "10"`,
		`e.yaml:27: sites[0].routes[1].pool: unknown pool "apii"`,
	}
	err = c.Check()
	if err == nil {
		t.Fatal("Check found nothing wrong")
	}
	got := strings.Split(err.Error(), "\n")
	if len(got) != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", len(got), len(want), err)
	}
	for i := range min(len(got), len(want)) {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d:\n got %s\nwant %s…", i, got[i], want[i])
		}
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Errorf("error %T is not a *FieldError", err)
	}
	// Validate says the same without the files.
	if verr := c.Validate(); verr == nil || strings.Contains(verr.Error(), missing) || !strings.Contains(verr.Error(), `unknown pool "apii"`) {
		t.Errorf("Validate = %v", verr)
	}
}

// TestBadValueKeepsTheRest: a bad value does not drop the list item or map
// entry around it, so every other field is read and validated as written.
func TestBadValueKeepsTheRest(t *testing.T) {
	in := `pools:
  web:
    servers: [{url: http://127.0.0.1:9001, weight: heavy}, {url: http://127.0.0.1:9002}]
    health: {interval: 5, path: /healthz}
sites:
  - name: s
    hosts: [a.test]
    routes:
      - {path: /, pool: web, cache: {default_ttl: 10}}
upstream:
  origin: http://127.0.0.1:9000
  shields: [http://127.0.0.1:8090, [x], http://127.0.0.1:8092]
`
	c, err := Parse([]byte(in), "e.yaml")
	if c == nil || err == nil {
		t.Fatalf("Parse = %v, %v; want a Config and an error", c, err)
	}
	web := c.Pools["web"]
	if len(web.Servers) != 2 || web.Servers[1].URL != "http://127.0.0.1:9002" || web.Health.Path != "/healthz" || web.Health.Interval != DefaultPoolConfig().Health.Interval {
		t.Errorf("pool web = %+v", web)
	}
	if len(c.Sites) != 1 || len(c.Sites[0].Routes) != 1 || c.Sites[0].Routes[0].Pool != "web" {
		t.Errorf("sites = %+v", c.Sites)
	}
	if want := []string{"http://127.0.0.1:8090", "", "http://127.0.0.1:8092"}; !reflect.DeepEqual(c.Upstream.Shields, want) {
		t.Errorf("shields = %q, want %q (items keep their index)", c.Upstream.Shields, want)
	}
	// The blanked item is not reported twice (as a list and as a URL).
	if n := strings.Count(c.Validate().Error(), "upstream.shields[1]"); n != 1 {
		t.Errorf("upstream.shields[1] reported %d times:\n%v", n, c.Validate())
	}
}

// TestCheckReadsUpstreamFiles: a missing client key and a CA without a
// certificate in it are reported together.
func TestCheckReadsUpstreamFiles(t *testing.T) {
	dir := t.TempDir()
	cert, _ := writeCert(t, dir, "client", "client.test")
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	in := "upstream:\n  origin: https://o.test\n  tls:\n    ca_file: " + notPEM + "\n    cert_file: " + cert + "\n    key_file: " + filepath.Join(dir, "none.key") + "\n"
	c := parseValid(t, in)
	err := c.Check()
	for _, want := range []string{
		"edged.yaml:4: upstream.tls.ca_file: " + notPEM + ": no PEM certificate found",
		"edged.yaml:6: upstream.tls.key_file: open " + filepath.Join(dir, "none.key"),
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check = %v\nwant %q", err, want)
		}
	}
}

// TestCheckReadsAuthKeyFiles: a route's missing JWT key file is found by
// Check, not first when the node builds its routes.
func TestCheckReadsAuthKeyFiles(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "jwt.pem")
	in := "upstream: {origin: 'http://o.test'}\nsites:\n  - name: s\n    hosts: [a.test]\n    routes:\n" +
		"      - path: /\n        auth:\n          jwt:\n            public_key_files: [" + missing + "]\n"
	c := parseValid(t, in)
	err := c.Check()
	if want := "edged.yaml:9: sites[0].routes[0].auth.jwt.public_key_files[0]: "; err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), missing) {
		t.Errorf("Check = %v\nwant %q naming %s", err, want, missing)
	}
}
