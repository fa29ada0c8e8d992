package config

import (
	"slices"
	"strings"
	"testing"
)

const acmeSites = "sites:\n  - name: s\n    hosts: [www.example.com, '*.example.com', API.example.com]\n    routes: [{path: /, pool: p}]\n" +
	"pools:\n  p: {servers: [{url: 'http://o'}]}\n"

func TestACMESettingsDefaults(t *testing.T) {
	c := parseValid(t, "tls:\n  listen: 127.0.0.1:0\n  acme: {}\n"+acmeSites)
	got := c.ACMESettings()
	want := ACMESettings{Enabled: true, CA: ACMELetsEncrypt, Storage: ACMEStorageData,
		Challenges: []string{ChallengeHTTP01, ChallengeTLSALPN01},
		// The wildcard is left out (dns-01 only); names are lower-cased.
		Hosts: []string{"www.example.com", "api.example.com"}}
	if got.Enabled != want.Enabled || got.CA != want.CA || got.Storage != want.Storage ||
		!slices.Equal(got.Challenges, want.Challenges) || !slices.Equal(got.Hosts, want.Hosts) {
		t.Errorf("settings = %+v, want %+v", got, want)
	}
	if s := Default().ACMESettings(); s.Enabled {
		t.Errorf("default settings enabled: %+v", s)
	}
	// tls.certificates is optional with tls.acme.
	if err := c.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
}

func TestACMEValidation(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"no listener", "tls:\n  acme: {email: a@example.com}\n", "edged.yaml:2: tls.acme: needs tls.listen"},
		{"bad email", "tls:\n  listen: :443\n  acme:\n    email: 'not an address'\n", "edged.yaml:4: tls.acme.email: invalid e-mail address"},
		{"http CA", "tls:\n  listen: :443\n  acme:\n    ca: http://ca.test/dir\n", "edged.yaml:4: tls.acme.ca: want the https URL"},
		{"wildcard", "tls:\n  listen: :443\n  acme:\n    hosts: ['*.example.com']\n", "edged.yaml:4: tls.acme.hosts[0]: wildcard"},
		{"IP", "tls:\n  listen: :443\n  acme:\n    hosts: [www.example.com, 192.0.2.1]\n", "edged.yaml:4: tls.acme.hosts[1]: \"192.0.2.1\" is an IP address"},
		{"bare name", "tls:\n  listen: :443\n  acme:\n    hosts: [localhost]\n", "edged.yaml:4: tls.acme.hosts[0]: invalid host name"},
		{"unknown challenge", "tls:\n  listen: :443\n  acme:\n    challenges: [dns-01]\n", "edged.yaml:4: tls.acme.challenges[0]: must be http-01 or tls-alpn-01"},
		{"twice", "tls:\n  listen: :443\n  acme:\n    challenges: [http-01, http-01]\n", "edged.yaml:4: tls.acme.challenges[1]: http-01 is listed twice"},
		{"no challenge", "tls:\n  listen: :443\n  acme:\n    challenges: []\n", "edged.yaml:4: tls.acme.challenges: empty"},
		{"storage", "tls:\n  listen: :443\n  acme:\n    storage: redis\n", "edged.yaml:4: tls.acme.storage: must be data or nats"},
		{"no hosts", "tls:\n  listen: :443\n  acme: {}\n", "edged.yaml:3: tls.acme.hosts: no host to get certificates for"},
		{"unknown field", "tls:\n  listen: :443\n  acme:\n    emial: a@example.com\n", `edged.yaml:4: unknown field "emial" in tls.acme`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.in+"upstream: {origin: 'http://o'}\n"), "edged.yaml")
			if err == nil {
				err = c.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v\nwant %q", err, tt.want)
			}
		})
	}
}

func TestACMERootsFile(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeCert(t, dir, "root", "ca.test")
	in := "tls:\n  listen: :443\n  acme:\n    hosts: [www.example.com]\n    ca_root: %s\nupstream: {origin: 'http://o'}\n"
	c := parseValid(t, strings.Replace(in, "%s", cert, 1))
	if pool, err := c.ACMERoots(); err != nil || pool == nil {
		t.Errorf("roots %v, %v", pool, err)
	}
	for file, want := range map[string]string{
		key:               "edged.yaml:5: tls.acme.ca_root: " + key + ": no PEM certificate found",
		dir + "/none.pem": "edged.yaml:5: tls.acme.ca_root: open " + dir + "/none.pem",
	} {
		c := parseValid(t, strings.Replace(in, "%s", file, 1))
		if err := c.Check(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check: %v\nwant %q", err, want)
		}
	}
}
