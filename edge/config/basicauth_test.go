package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"edged/edge/auth"
)

// TestRouteBasicAuthErrors: a bad htpasswd file is an error naming the
// field, its line, the file and the file's line; the settings that need
// auth.basic say so.
func TestRouteBasicAuthErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("# users\n\nbob:plain\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	route := func(lines string) string {
		return "upstream: {origin: 'http://o'}\nsites:\n  - name: s\n    hosts: [a.test]\n    routes:\n      - path: /\n" + lines
	}
	for _, tt := range []struct{ in, want string }{
		{route("        auth:\n          basic:\n            htpasswd: " + bad + "\n"),
			`f.yaml:9: sites[0].routes[0].auth.basic.htpasswd: ` + bad + `:3: user "bob": not a bcrypt hash`},
		{route("        auth:\n          basic:\n            htpasswd: " + filepath.Join(dir, "none") + "\n"),
			`f.yaml:9: sites[0].routes[0].auth.basic.htpasswd: `},
		{route("        auth:\n          basic:\n            realm: staff\n"),
			`sites[0].routes[0].auth.basic.htpasswd: required with basic.realm`},
		{route("        auth:\n          basic: {htpasswd: " + bad + ", realm: 'a\"b'}\n"),
			`sites[0].routes[0].auth.basic.realm: `},
		{route("        rate_limit: {rate: 5, key: basic_user}\n"),
			`sites[0].routes[0].rate_limit.key: basic_user needs auth.basic on the route`},
	} {
		c, err := Parse([]byte(tt.in), "f.yaml")
		if err == nil {
			err = c.Check()
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want %q", tt.in, err, tt.want)
		}
	}
}

// TestRouteBasicAuth: a good file gives the route a verifier that takes
// its users, and basic_user keys the rate limit.
func TestRouteBasicAuth(t *testing.T) {
	file := aliceHtpasswd(t)
	c := parseValid(t, "upstream: {origin: 'http://o'}\nsites: [{name: s, hosts: [a.test], routes: [{path: /, auth: {basic: {htpasswd: "+file+", realm: staff}}, rate_limit: {rate: 5, key: basic_user}}]}]\n")
	if err := c.Check(); err != nil {
		t.Fatal(err)
	}
	sites, err := testSites(t, c)
	if err != nil {
		t.Fatal(err)
	}
	r := sites[0].Routes[0]
	if r.Auth == nil || r.RateKey.By != "basic_user" {
		t.Fatalf("route auth %v, rate key %+v", r.Auth, r.RateKey)
	}
	if got := r.Auth.Challenge(auth.ErrNoCredentials); got != `Basic realm="staff", charset="UTF-8"` {
		t.Errorf("challenge %q", got)
	}
}

// TestRouteBasicRealmDefault: without basic.realm the challenge names the
// site's first host, which a browser's prompt shows.
func TestRouteBasicRealmDefault(t *testing.T) {
	file := aliceHtpasswd(t)
	c := parseValid(t, "upstream: {origin: 'http://o'}\nsites: [{name: s, hosts: [admin.example.com, b.test], routes: [{path: /, auth: {basic: {htpasswd: "+file+"}}}]}]\n")
	if err := c.Check(); err != nil {
		t.Fatal(err)
	}
	sites, err := testSites(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if got := sites[0].Routes[0].Auth.Challenge(auth.ErrNoCredentials); got != `Basic realm="admin.example.com", charset="UTF-8"` {
		t.Errorf("challenge %q, want the site's first host as realm", got)
	}
}

// aliceHtpasswd writes an htpasswd file of alice, password s3cret.
func aliceHtpasswd(t *testing.T) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(file, []byte("alice:"+string(h)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}
