package config

import (
	"log/slog"
	"strings"
	"testing"

	"edged/edge"
	"edged/internal/logtest"
)

// identityYAML is a valid route with every identity field; tests change
// one line. Line numbers matter.
const identityYAML = `upstream:
  origin: http://127.0.0.1:9000
sites:
  - name: s
    hosts: [a.test]
    routes:
      - path: /
        rate_limit: {rate: 2, key: jwt_sub, shared: true}
        auth:
          jwt:
            jwks_url: http://127.0.0.1:1/jwks.json
            jwks_refresh: 5m
            jwks_min_refetch: 10s
            jwks_timeout: 2s
            required_scopes: [docs:read]
            required_roles: [editor]
            roles_claim: realm_access.roles
`

func TestIdentityConfig(t *testing.T) {
	c := parseValid(t, identityYAML)
	r := c.Sites[0].Routes[0]
	if k := r.RateLimit.rateKey(); k != (edge.RateKey{By: edge.RateBySubject}) || !r.RateLimit.options().Shared {
		t.Errorf("rate key %+v, shared %v", k, r.RateLimit.options().Shared)
	}
	opts, errs := c.authOptions("sites[0].routes[0].auth", r.Auth)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	j := opts.JWT
	if j.JWKS == nil || j.JWKS.URL != "http://127.0.0.1:1/jwks.json" || j.JWKS.Refresh.String() != "5m0s" ||
		j.JWKS.MinRefetch.String() != "10s" || j.JWKS.Timeout.String() != "2s" {
		t.Errorf("JWKS options %+v", j.JWKS)
	}
	if strings.Join(j.RequiredScopes, ",") != "docs:read" || strings.Join(j.RequiredRoles, ",") != "editor" || j.RolesClaim != "realm_access.roles" {
		t.Errorf("requirements %v %v %q", j.RequiredScopes, j.RequiredRoles, j.RolesClaim)
	}
	if k := (RateLimit{Rate: 1, Key: "header: X-Tenant"}).rateKey(); k != (edge.RateKey{By: edge.RateByHeader, Header: "X-Tenant"}) {
		t.Errorf("header key %+v", k)
	}
}

// TestIdentityValidationNamesFieldAndLine changes one line of identityYAML
// at a time; each error names the file, the line and the field.
func TestIdentityValidationNamesFieldAndLine(t *testing.T) {
	setSecrets(t)
	tests := []struct {
		line int
		repl string
		want string
	}{
		{8, "        rate_limit: {rate: 2, key: user}", `edged.yaml:8: sites[0].routes[0].rate_limit.key: unknown key "user"`},
		{8, "        rate_limit: {rate: 2, key: 'ip:x'}", `sites[0].routes[0].rate_limit.key: unknown key "ip:x"`},
		{8, "        rate_limit: {rate: 2, key: 'header:'}", "edged.yaml:8: sites[0].routes[0].rate_limit.key: header:NAME needs a valid header name"},
		{8, "        rate_limit: {rate: 2, key: 'header:Bad Name'}", "rate_limit.key: header:NAME needs a valid header name"},
		{8, "        rate_limit: {rate: 2, key: api_key}", "edged.yaml:8: sites[0].routes[0].rate_limit.key: api_key needs auth.api_keys"},
		{11, "            jwks_url: http://idp.example.com/jwks.json", "edged.yaml:11: sites[0].routes[0].auth.jwt.jwks_url: \"http://idp.example.com/jwks.json\" must use https"},
		{11, "            jwks_url: idp.example.com/jwks.json", "edged.yaml:11: sites[0].routes[0].auth.jwt.jwks_url: \"idp.example.com/jwks.json\" is not an absolute http(s) URL"},
		{11, "            jwks_file: ''", "edged.yaml:12: sites[0].routes[0].auth.jwt.jwks_refresh: has no effect without jwt.jwks_url"},
		{12, "            jwks_refresh: -1s", "edged.yaml:12: sites[0].routes[0].auth.jwt.jwks_refresh: must not be negative"},
		{13, "            jwks_min_refetch: -1s", "edged.yaml:13: sites[0].routes[0].auth.jwt.jwks_min_refetch: must not be negative"},
		{15, "            required_scopes: ['a b']", "edged.yaml:15: sites[0].routes[0].auth.jwt.required_scopes[0]: \"a b\" is not a scope-token"},
		{16, "            required_roles: ['']", "edged.yaml:16: sites[0].routes[0].auth.jwt.required_roles[0]: empty role"},
		{16, "            required_roles: []", "edged.yaml:17: sites[0].routes[0].auth.jwt.roles_claim: has no effect without jwt.required_roles"},
		{17, "            roles_claim: realm_access..roles", "edged.yaml:17: sites[0].routes[0].auth.jwt.roles_claim: \"realm_access..roles\" has an empty name"},
		{17, "          api_keys: {keys_env: TEST_API_KEYS}", "sites[0].routes[0].auth.api_keys: an API key carries no scopes or roles"},
	}
	for _, tt := range tests {
		wantLineError(t, identityYAML, tt.line, tt.repl, tt.want)
	}
}

// edged -t (Config.Check) with a jwks_url printed "JWK Set fetch failed"
// after "configuration OK" when the identity provider was not reachable
// from where the file was checked: the check builds the verifier to read
// its key files, and that makes the first fetch. The check says nothing of
// the provider; the node's own fetches still log (TestIdentityConfig's
// options carry the configured logger).
func TestCheckDoesNotLogJWKSFetch(t *testing.T) {
	c := parseValid(t, identityYAML) // jwks_url: 127.0.0.1:1, nothing listens
	var logs logtest.Buffer          // the JWK Set refresh may log from a goroutine of its own
	c.SetLogger(slog.New(slog.NewTextHandler(&logs, nil)))
	if err := c.Check(); err != nil {
		t.Fatal(err)
	}
	if logs.Writes() > 0 {
		t.Errorf("the check logged: %s", logs.String())
	}
	opts, _ := c.authOptions("sites[0].routes[0].auth", c.Sites[0].Routes[0].Auth)
	if opts.JWT.JWKS.Logger == nil {
		t.Error("the node's JWK Set fetches have no logger")
	}
}
