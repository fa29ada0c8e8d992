package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// The purge bus's secrets (issue 7, security of the control plane): a
// listening embedded NATS needs a token unless explicitly allowed open, and
// the environment variables named must hold a value.
func TestValidatePurgeAuth(t *testing.T) {
	t.Setenv("TEST_NATS_TOKEN", "nats-secret")
	t.Setenv("TEST_PURGE_KEY", "signing-secret")
	t.Setenv("TEST_EMPTY", "")
	t.Setenv(NATSTokenEnv, "")
	const base = "upstream:\n  origin: http://127.0.0.1:9000\n"
	tests := []struct {
		name string
		in   string
		want string // "" means valid
	}{
		{"in-process needs no token", base + "purge:\n  nats: {}\n", ""},
		{"listen without token", base + "purge:\n  nats:\n    listen: 10.0.0.1:4222\n",
			"edged.yaml:5: purge.nats.listen: the embedded NATS server would accept any client, who could then purge: set EDGED_NATS_TOKEN to a NATS token (or name another variable in purge.nats.token_env)"},
		{"listen with token", base + "purge:\n  nats:\n    listen: 10.0.0.1:4222\n    token_env: TEST_NATS_TOKEN\n", ""},
		{"listen explicitly open", base + "purge:\n  nats:\n    listen: 10.0.0.1:4222\n    allow_unauthenticated: true\n", ""},
		{"token env unset", base + "purge:\n  nats:\n    listen: 10.0.0.1:4222\n    token_env: TEST_NO_SUCH_VAR\n",
			"edged.yaml:6: purge.nats.token_env: environment variable TEST_NO_SUCH_VAR is not set (it holds the NATS token)"},
		{"token env empty", base + "purge:\n  nats:\n    url: nats://n:4222\n    token_env: TEST_EMPTY\n",
			"edged.yaml:6: purge.nats.token_env: environment variable TEST_EMPTY is not set"},
		{"token with url", base + "purge:\n  nats:\n    url: nats://n:4222\n    token_env: TEST_NATS_TOKEN\n", ""},
		{"signing key", base + "purge:\n  signing_key_env: TEST_PURGE_KEY\n", ""},
		{"signing key env unset", base + "purge:\n  signing_key_env: TEST_NO_SUCH_VAR\n",
			"edged.yaml:4: purge.signing_key_env: environment variable TEST_NO_SUCH_VAR is not set (it holds the purge event signing key)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkConfig(t, tt.in, "Validate", (*Config).Validate, tt.want)
		})
	}
}

// A listener set by flag (no line) is refused the same way.
func TestValidatePurgeListenByFlag(t *testing.T) {
	t.Setenv(NATSTokenEnv, "")
	c, err := Parse([]byte("upstream: {origin: 'http://o'}\n"), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c.Purge.NATS.Listen = "127.0.0.1:4222"
	c.Override("purge.nats.listen")
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "purge.nats.listen: the embedded NATS server would accept any client") {
		t.Errorf("Validate = %v, want a purge.nats.listen error without a line", err)
	}
}

// A fleet started with flags alone (issue 12): EDGED_NATS_TOKEN, when set,
// is the listening server's token; unset, the listener is still refused,
// and the error names the variable.
func TestValidatePurgeListenDefaultTokenEnv(t *testing.T) {
	c := Default()
	c.Upstream.Origin = "http://o"
	c.Purge.NATS.Listen = "127.0.0.1:4222"
	c.Override("purge.nats.listen")
	t.Setenv(NATSTokenEnv, "")
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "set EDGED_NATS_TOKEN") {
		t.Errorf("Validate without %s = %v, want an error naming it", NATSTokenEnv, err)
	}
	t.Setenv(NATSTokenEnv, "fleet-token")
	if err := c.Validate(); err != nil {
		t.Errorf("Validate with %s set = %v, want valid", NATSTokenEnv, err)
	}
}

// Issue 18: a NATS cluster given as a list, and the credentials NATS users
// expect, each checked with an error naming the field and its line.
func TestValidatePurgeNATSCluster(t *testing.T) {
	dir := t.TempDir()
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := user.Seed()
	seedFile := filepath.Join(dir, "user.nk")
	notSeed := filepath.Join(dir, "garbage.nk")
	creds := filepath.Join(dir, "user.creds")
	account, err := nkeys.CreateAccount()
	if err != nil {
		t.Fatal(err)
	}
	userPub, _ := user.PublicKey()
	userJWT, err := jwt.NewUserClaims(userPub).Encode(account)
	if err != nil {
		t.Fatal(err)
	}
	goodCreds := filepath.Join(dir, "good.creds")
	nscCreds, err := jwt.FormatUserConfig(userJWT, seed)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{seedFile: seed, notSeed: []byte("not a seed\n"), creds: []byte("no jwt here\n"), goodCreds: nscCreds} {
		if err := os.WriteFile(name, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const base = "upstream:\n  origin: http://127.0.0.1:9000\n"
	tests := []struct {
		name string
		in   string
		want string // "" means valid
	}{
		{"urls", base + "purge:\n  nats:\n    urls: [nats://n1:4222, nats://n2:4222, tls://n3:4222]\n    replicas: 3\n", ""},
		{"urls bad item", base + "purge:\n  nats:\n    urls:\n      - nats://n1:4222\n      - n2:4222\n",
			`edged.yaml:7: purge.nats.urls[1]: invalid NATS URL "n2:4222": want nats://host:port`},
		{"url and urls", base + "purge:\n  nats:\n    url: nats://n1:4222\n    urls: [nats://n2:4222]\n",
			"edged.yaml:6: purge.nats.urls: set either purge.nats.url or purge.nats.urls, not both"},
		{"url list bad", base + "purge:\n  nats:\n    url: nats://n1:4222,http://n2\n",
			`edged.yaml:5: purge.nats.url: invalid NATS URL "http://n2"`},
		{"urls with listen", base + "purge:\n  nats:\n    urls: [nats://n1:4222]\n    listen: 127.0.0.1:4222\n    allow_unauthenticated: true\n",
			"edged.yaml:6: purge.nats.listen: only for the embedded server"},
		{"nkey seed", base + "purge:\n  nats:\n    urls: [nats://n1:4222]\n    nkey_seed: " + seedFile + "\n", ""},
		{"nkey seed embedded", base + "purge:\n  nats:\n    nkey_seed: " + seedFile + "\n",
			"edged.yaml:5: purge.nats.nkey_seed: only with purge.nats.url or purge.nats.urls"},
		{"nkey seed not a seed", base + "purge:\n  nats:\n    urls: [nats://n1:4222]\n    nkey_seed: " + notSeed + "\n",
			"edged.yaml:6: purge.nats.nkey_seed: " + notSeed + " does not hold a NATS user nkey seed"},
		{"nkey seed missing", base + "purge:\n  nats:\n    urls: [nats://n1:4222]\n    nkey_seed: " + dir + "/none.nk\n",
			"edged.yaml:6: purge.nats.nkey_seed: reading the NATS nkey seed file: open " + dir + "/none.nk: no such file"},
		{"credentials", base + "purge:\n  nats:\n    urls: [nats://n1:4222]\n    credentials: " + goodCreds + "\n", ""},
		{"credentials without jwt", base + "purge:\n  nats:\n    urls: [nats://n1:4222]\n    credentials: " + creds + "\n",
			"edged.yaml:6: purge.nats.credentials: " + creds + " is not a NATS credentials file: no user JWT"},
		{"credentials and nkey", base + "purge:\n  nats:\n    urls: [nats://n1:4222]\n    credentials: " + creds + "\n    nkey_seed: " + seedFile + "\n",
			"edged.yaml:7: purge.nats.nkey_seed: not with purge.nats.credentials"},
		{"replicas", base + "purge:\n  nats:\n    replicas: 7\n", "edged.yaml:5: purge.nats.replicas: must be 1 to 5 (JetStream's limit), got 7"},
		{"max lag", base + "purge:\n  max_lag: -1s\n", "edged.yaml:4: purge.max_lag: must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkConfig(t, tt.in, "Check", (*Config).Check, tt.want)
		})
	}
	c, _ := Parse([]byte(base+"purge:\n  nats:\n    url: 'nats://a:1, nats://b:2'\n    urls: []\n"), "edged.yaml")
	if got := strings.Join(c.Purge.NATS.Servers(), " "); got != "nats://a:1 nats://b:2" {
		t.Errorf("Servers() = %q", got)
	}
}

// checkConfig parses in as edged.yaml and runs check (named name) on it:
// want "" means valid, else an error containing want.
func checkConfig(t *testing.T, in, name string, check func(*Config) error, want string) {
	t.Helper()
	c, err := Parse([]byte(in), "edged.yaml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	err = check(c)
	switch {
	case want == "" && err != nil:
		t.Errorf("%s = %v, want valid", name, err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Errorf("%s = %v\nwant it to contain %q", name, err, want)
	}
}
