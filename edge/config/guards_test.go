package config

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // windows name IANA zones; the test host may lack the database

	"github.com/golang-jwt/jwt/v5"

	"edged/edge"
	"edged/origin"
)

// guardsYAML is a valid configuration exercising every new site and route
// field; tests change one line of it. Line numbers matter.
const guardsYAML = `upstream:
  origin: http://127.0.0.1:9000
tls:
  listen: 127.0.0.1:8443
  certificates: [{cert: a.crt, key: a.key}]
server:
  trusted_proxies: [10.0.0.0/8, 192.0.2.1]
  proxy_protocol: true
  max_connections: 100
sites:
  - name: s
    hosts: [a.test]
    https_redirect: true
    hsts: "max-age=31536000; includeSubDomains"
    hide_backend: true
    response_headers: {set: {X-Frame-Options: DENY}, remove: [Via]}
    routes:
      - path: /
        access:
          allow: [203.0.113.0/24]
          deny: [203.0.113.7]
          deny_paths: [/private]
          block_user_agents: [BadBot]
          windows:
            - {paths: [/admin/], days: [mon, Friday], from: "09:00", to: "17:30", timezone: Europe/Paris, action: deny}
        rate_limit: {rate: 2.5, burst: 0, max_clients: 10}
        auth:
          jwt: {hmac_secret_env: TEST_JWT_SECRET, algorithms: [HS256], audience: aud, issuer: iss, leeway: 5s}
          api_keys: {header: X-Key, keys_env: TEST_API_KEYS}
          key_claims: [sub]
`

const testSecret = "0123456789abcdef0123456789abcdef"

func setSecrets(t *testing.T) {
	t.Helper()
	t.Setenv("TEST_JWT_SECRET", testSecret)
	t.Setenv("TEST_API_KEYS", " k1 , k2,")
}

func guardsWithLine(t testing.TB, n int, repl string) string {
	t.Helper()
	lines := strings.Split(guardsYAML, "\n")
	lines[n-1] = repl
	return strings.Join(lines, "\n")
}

// TestGuardsValidationNamesFieldAndLine changes one line of guardsYAML at
// a time; each error must name the file, the line and the field.
func TestGuardsValidationNamesFieldAndLine(t *testing.T) {
	setSecrets(t)
	parseValid(t, guardsYAML)
	tests := []struct {
		line int
		repl string
		want string // substring of the error
	}{
		{4, "  listen: nope", "edged.yaml:4: tls.listen: invalid address"},
		{5, "  certificates: []", "edged.yaml:5: tls.certificates: required with tls.listen"},
		{5, "  certificates: [{cert: a.crt}]", "edged.yaml:5: tls.certificates[0].key: required"},
		{7, "  trusted_proxies: [10.0.0.0/33]", "edged.yaml:7: server.trusted_proxies[0]: invalid network"},
		{7, "  trusted_proxies: []", "edged.yaml:8: server.proxy_protocol: needs server.trusted_proxies"},
		{9, "  max_connections: -1", "edged.yaml:9: server.max_connections: must not be negative"},
		{9, "  request_body_timeout: 0s", "edged.yaml:9: server.request_body_timeout: must be positive"},
		{9, "  request_body_min_rate: -1", "edged.yaml:9: server.request_body_min_rate: invalid size \"-1\""},
		{9, "  max_uploads_per_client: -1", "edged.yaml:9: server.max_uploads_per_client: must not be negative"},
		{9, "  strip_request_headers: [X-Ok, 'Bad Name*']", "edged.yaml:9: server.strip_request_headers[1]: \"Bad Name*\" is not a field name"},
		// RFC 6797 §6.1.1: max-age is required.
		{14, `    hsts: "includeSubDomains"`, "edged.yaml:14: sites[0].hsts: max-age is required"},
		{14, `    hsts: "max-age=abc"`, "edged.yaml:14: sites[0].hsts: max-age must be a number"},
		{16, "    response_headers: {set: {'Bad Name': x}}", "sites[0].response_headers.set.Bad Name: invalid header name"},
		{20, "          allow: [203.0.113.0/xx]", "edged.yaml:20: sites[0].routes[0].access.allow[0]: invalid network"},
		{21, "          deny: [nope]", "edged.yaml:21: sites[0].routes[0].access.deny[0]: invalid network"},
		{22, "          deny_paths: [private]", "edged.yaml:22: sites[0].routes[0].access.deny_paths[0]: must start with /"},
		{23, "          block_user_agents: ['']", "edged.yaml:23: sites[0].routes[0].access.block_user_agents[0]: empty"},
		{25, `            - {days: [mon, funday], from: "09:00", to: "17:00"}`, "edged.yaml:25: sites[0].routes[0].access.windows[0].days[1]: unknown day \"funday\""},
		{25, `            - {from: "9:00", to: "17:00"}`, "edged.yaml:25: sites[0].routes[0].access.windows[0].from: invalid time \"9:00\""},
		{25, `            - {from: "09:00", to: "25:00"}`, "sites[0].routes[0].access.windows[0].to: invalid time \"25:00\""},
		{25, `            - {from: "09:00", to: "09:00"}`, "sites[0].routes[0].access.windows[0].to: equals from"},
		{25, `            - {from: "09:00"}`, "sites[0].routes[0].access.windows[0].to: required"},
		{25, `            - {from: "09:00", to: "10:00", timezone: Mars/Olympus}`, "edged.yaml:25: sites[0].routes[0].access.windows[0].timezone: unknown time zone \"Mars/Olympus\""},
		{25, `            - {from: "09:00", to: "10:00", action: block}`, "sites[0].routes[0].access.windows[0].action: must be deny or allow"},
		{26, "        rate_limit: {rate: 0, burst: 5}", "edged.yaml:26: sites[0].routes[0].rate_limit.rate: must be a positive number"},
		{26, "        rate_limit: {rate: 0}", "sites[0].routes[0].rate_limit.rate: must be a positive number"},
		{26, "        rate_limit: {rate: -1}", "sites[0].routes[0].rate_limit.rate: must be a positive number"},
		{26, "        rate_limit: {rate: 1, burst: -1}", "sites[0].routes[0].rate_limit.burst: must not be negative"},
		{26, "        rate_limit: {rate: 1, max_clients: -5}", "sites[0].routes[0].rate_limit.max_clients: must not be negative"},
		{28, "          jwt: {hmac_secret_env: TEST_UNSET_SECRET}", "edged.yaml:28: sites[0].routes[0].auth.jwt.hmac_secret_env: environment variable TEST_UNSET_SECRET is not set"},
		{28, "          jwt: {hmac_secret_env: TEST_SHORT_SECRET}", "auth.jwt.hmac_secret_env: must be at least 32 bytes, got 5 (RFC 7518 §3.2)"},
		{28, "          jwt: {hmac_secret_env: TEST_JWT_SECRET, algorithms: [HS999]}", "auth.jwt.algorithms[0]: unsupported algorithm"},
		{28, "          jwt: {hmac_secret_env: TEST_JWT_SECRET, algorithms: [RS256]}", "auth.jwt.algorithms[0]: RS256 needs a public key"},
		{28, "          jwt: {audience: x}", "sites[0].routes[0].auth.jwt: needs a key"},
		{28, "          jwt: {hmac_secret_env: TEST_JWT_SECRET, leeway: -1s}", "auth.jwt.leeway: must not be negative"},
		{29, "          api_keys: {header: X-Key, keys_env: TEST_UNSET_KEYS}", "edged.yaml:29: sites[0].routes[0].auth.api_keys.keys_env: environment variable TEST_UNSET_KEYS is not set"},
		{29, "          api_keys: {header: X-Key}", "auth.api_keys.keys_env: required with api_keys.header"},
		{29, "          api_keys: {header: 'X Key', keys_env: TEST_API_KEYS}", "auth.api_keys.header: invalid header name"},
		{30, "          key_claims: ['']", "auth.key_claims[0]: empty claim name"},
		// Fields the node writes itself: a rule setting one was dropped
		// without a word (Host: backend sent the request's host).
		{18, "      - request_headers: {set: {Host: backend.internal}}\n        path: /", "edged.yaml:18: sites[0].routes[0].request_headers.set.Host: the Host sent upstream is the request's (the cache key's) host: not a header rule's to set"},
		{18, "      - request_headers: {set: {transfer-encoding: chunked}}\n        path: /", "edged.yaml:18: sites[0].routes[0].request_headers.set.transfer-encoding: message framing is the connection's"},
		{16, "    response_headers: {set: {Content-Length: '3', X-Frame-Options: DENY}}", "edged.yaml:16: sites[0].response_headers.set.Content-Length: message framing is the connection's"},
		{16, "    response_headers: {set: {Connection: close}}", "edged.yaml:16: sites[0].response_headers.set.Connection: a hop-by-hop field"},
		// A field the edge drops before the route reads it: every request
		// would be refused (401), or spend its address's budget.
		{29, "          api_keys: {header: X-Forwarded-Key, keys_env: TEST_API_KEYS}", "edged.yaml:29: sites[0].routes[0].auth.api_keys.header: server.strip_request_headers removes this field before routing: no request would ever carry a key"},
		{29, "          api_keys: {header: X_Key, keys_env: TEST_API_KEYS}", `edged.yaml:29: sites[0].routes[0].auth.api_keys.header: the edge drops fields whose name holds "_"`},
		{29, "          api_keys: {header: host, keys_env: TEST_API_KEYS}", "edged.yaml:29: sites[0].routes[0].auth.api_keys.header: the host is not read as a field"},
		{26, "        rate_limit: {rate: 1, key: 'header:X-Real-IP'}", "edged.yaml:26: sites[0].routes[0].rate_limit.key: server.strip_request_headers removes this field before routing: no request would carry the key"},
		{26, "        rate_limit: {rate: 1, key: 'header:X_Tenant'}", `edged.yaml:26: sites[0].routes[0].rate_limit.key: the edge drops fields whose name holds "_"`},
	}
	t.Setenv("TEST_SHORT_SECRET", "short")
	for _, tt := range tests {
		wantLineError(t, guardsYAML, tt.line, tt.repl, tt.want)
	}
}

// wantLineError parses base with its line n replaced by repl, and wants a
// FieldError containing want.
func wantLineError(t *testing.T, base string, n int, repl, want string) {
	t.Helper()
	lines := strings.Split(base, "\n")
	lines[n-1] = repl
	c, err := Parse([]byte(strings.Join(lines, "\n")), "edged.yaml")
	if err == nil {
		err = c.Validate()
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("line %d %q: error %v, want %q", n, repl, err, want)
	}
	var fe *FieldError
	if err != nil && !errors.As(err, &fe) {
		t.Errorf("line %d: %T is not a FieldError", n, err)
	}
}

// TestUnsetSecretHidesNoOtherProblem: a route whose secret variable is not
// set used to report that alone, so the operator who set it met the
// route's other problems on the next run; every problem comes at once.
func TestUnsetSecretHidesNoOtherProblem(t *testing.T) {
	in := "upstream: {origin: 'http://o'}\nsites:\n  - name: s\n    hosts: [a.test]\n    routes:\n      - path: /\n        auth:\n" +
		"          jwt: {hmac_secret_env: TEST_UNSET_SECRET, algorithms: [RS256]}\n" +
		"          api_keys: {keys_env: TEST_UNSET_KEYS}\n"
	c, err := Parse([]byte(in), "edged.yaml")
	if err != nil {
		t.Fatal(err)
	}
	err = c.Check() // what edged -t and a start run
	for _, want := range []string{
		"edged.yaml:8: sites[0].routes[0].auth.jwt.hmac_secret_env: environment variable TEST_UNSET_SECRET is not set",
		"edged.yaml:8: sites[0].routes[0].auth.jwt.algorithms[0]: RS256 needs a public key",
		"edged.yaml:9: sites[0].routes[0].auth.api_keys.keys_env: environment variable TEST_UNSET_KEYS is not set",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nwant %q", err, want)
		}
	}
}

// TestBadCORSHidesNoOtherProblem: a route whose CORS policy is bad used
// to hide the problems of every host and route path (the router's check
// was skipped when a policy failed to build), so an operator who fixed
// the origin met a port in a host on the next run; every problem comes
// at once.
func TestBadCORSHidesNoOtherProblem(t *testing.T) {
	in := "upstream: {origin: 'http://o'}\nsites:\n  - name: s\n    hosts: [api.local:8080]\n    routes:\n      - path: v1/\n" +
		"        cors: {allowed_origins: ['https://app.example.com/']}\n"
	c, err := Parse([]byte(in), "edged.yaml")
	if err != nil {
		t.Fatal(err)
	}
	err = c.Check()
	for _, want := range []string{
		`edged.yaml:4: sites[0].hosts[0]: invalid host "api.local:8080"`,
		`edged.yaml:6: sites[0].routes[0].path: must start with /, got "v1/"`,
		`edged.yaml:7: sites[0].routes[0].cors.allowed_origins[0]: want an origin`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nwant %q", err, want)
		}
	}
}

// TestHTTPSFieldsNeedTLSListen: without an HTTPS listener a redirect would
// loop and HSTS would never be sent (RFC 6797 §7.2).
func TestKeyClaimsNeedAuth(t *testing.T) {
	c, err := Parse([]byte("upstream: {origin: 'http://o'}\nsites:\n  - name: s\n    hosts: [a.test]\n    routes:\n      - path: /\n        auth: {key_claims: [sub]}\n"), "edged.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "edged.yaml:7: sites[0].routes[0].auth.key_claims: has no effect without jwt, api_keys or basic") {
		t.Errorf("error %v", err)
	}
}

func TestHTTPSFieldsNeedTLSListen(t *testing.T) {
	setSecrets(t)
	in := strings.Replace(guardsYAML, "  listen: 127.0.0.1:8443\n  certificates: [{cert: a.crt, key: a.key}]\n", "", 1)
	c, err := Parse([]byte(in), "edged.yaml")
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	for _, want := range []string{"sites[0].https_redirect: needs tls.listen", "sites[0].hsts: needs tls.listen"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
	}
	c, _ = Parse([]byte("upstream: {origin: 'http://o'}\ntls: {certificates: [{cert: a, key: b}]}\n"), "edged.yaml")
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "edged.yaml:2: tls.certificates: set but tls.listen is empty") {
		t.Errorf("certificates without listen: %v", err)
	}
}

func TestUnknownGuardFieldIsRejected(t *testing.T) {
	setSecrets(t)
	in := guardsWithLine(t, 26, "        rate_limit: {rate: 1, brust: 2}")
	_, err := Parse([]byte(in), "edged.yaml")
	if err == nil || !strings.Contains(err.Error(), `edged.yaml:26: unknown field "brust" in sites[0].routes[0].rate_limit`) {
		t.Errorf("error %v", err)
	}
}

// testSites builds the edge sites of c with one client per ref.
func testSites(t *testing.T, c *Config) ([]*edge.Site, error) {
	t.Helper()
	return c.EdgeSites(func(ref UpstreamRef) (*origin.Client, error) {
		oo := c.ClientOptions(ref)
		oo.Origin = "http://127.0.0.1:1"
		cl, err := origin.New(oo)
		if err == nil {
			t.Cleanup(cl.Close)
		}
		return cl, err
	})
}

func TestEdgeSitesGuards(t *testing.T) {
	setSecrets(t)
	c := parseValid(t, guardsYAML)
	sites, err := testSites(t, c)
	if err != nil {
		t.Fatal(err)
	}
	s, r := sites[0], sites[0].Routes[0]
	if !s.HTTPSRedirect {
		t.Error("HTTPSRedirect not set")
	}
	if got := s.ResponseHeaders.Set["Strict-Transport-Security"]; got != "max-age=31536000; includeSubDomains" {
		t.Errorf("HSTS = %q", got)
	}
	if got := strings.Join(s.ResponseHeaders.Remove, ","); got != "Via,Server,X-Powered-By" {
		t.Errorf("site Remove = %q, want Via,Server,X-Powered-By", got)
	}
	if s.ResponseHeaders.Set["X-Frame-Options"] != "DENY" {
		t.Errorf("site Set = %v", s.ResponseHeaders.Set)
	}
	if r.Access == nil || r.RateLimit == nil || r.Auth == nil || strings.Join(r.AuthKey, ",") != "sub" {
		t.Fatalf("route guards = %+v", r)
	}
	monday := time.Date(2025, 6, 2, 10, 0, 0, 0, time.UTC) // 12:00 in Paris
	saturday := monday.AddDate(0, 0, 5)
	client := netip.MustParseAddr("203.0.113.1")
	accessTests := []struct {
		ip, path, ua string
		now          time.Time
		want         bool
	}{
		{"203.0.113.1", "/a", "curl", monday, true},
		{"198.51.100.1", "/a", "curl", monday, false},    // not in allow
		{"203.0.113.7", "/a", "curl", monday, false},     // deny wins
		{"203.0.113.1", "/private/x", "", monday, false}, // deny_paths
		{"203.0.113.1", "/a", "x BADBOT y", monday, false},
		{"203.0.113.1", "/admin/", "", monday, false},                   // inside the deny window
		{"203.0.113.1", "/admin/", "", saturday, true},                  // not a window day
		{"203.0.113.1", "/admin/", "", monday.Add(6 * time.Hour), true}, // 18:00 Paris: after to
	}
	for _, tt := range accessTests {
		if ok, _ := r.Access.Check(netip.MustParseAddr(tt.ip), tt.path, tt.ua, tt.now); ok != tt.want {
			t.Errorf("Check(%s, %s, %q, %v) = %v, want %v", tt.ip, tt.path, tt.ua, tt.now, ok, tt.want)
		}
	}
	// rate 2.5, burst 0 → burst 3 (the rate rounded up).
	for i, want := range []bool{true, true, true, false} {
		if ok, _ := r.RateLimit.Allow(client, monday); ok != want {
			t.Errorf("request %d: Allow = %v, want %v", i, ok, want)
		}
	}
	authTests := []struct {
		name   string
		header string
		value  string
		ok     bool
	}{
		{"api key", "X-Key", "k2", true},
		{"wrong api key", "X-Key", "k3", false},
		{"hs256 token", "Authorization", "Bearer " + hs256(t, testSecret, jwt.MapClaims{"sub": "u1", "aud": "aud", "iss": "iss", "exp": time.Now().Add(time.Hour).Unix()}), true},
		{"wrong audience", "Authorization", "Bearer " + hs256(t, testSecret, jwt.MapClaims{"sub": "u1", "aud": "x", "iss": "iss"}), false},
		{"nothing", "", "", false},
	}
	for _, tt := range authTests {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if tt.header != "" {
			req.Header.Set(tt.header, tt.value)
		}
		if _, err := r.Auth.Verify(req, time.Now()); (err == nil) != tt.ok {
			t.Errorf("%s: Verify error %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func hs256(t testing.TB, secret string, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestEdgeSitesAuthFileErrors: key files are read at start, and a missing
// one is a FieldError naming the field, the line and the file.
func TestEdgeSitesAuthFileErrors(t *testing.T) {
	setSecrets(t)
	in := guardsWithLine(t, 28, "          jwt: {jwks_file: /nonexistent/jwks.json}")
	c := parseValid(t, in)
	_, err := testSites(t, c)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Line != 28 || fe.Field != "sites[0].routes[0].auth.jwt.jwks_file" || !strings.Contains(err.Error(), "/nonexistent/jwks.json") {
		t.Errorf("error %v (%+v)", err, fe)
	}
	in = guardsWithLine(t, 28, "          jwt: {public_key_files: [/nonexistent/a.pem]}")
	c = parseValid(t, in)
	_, err = testSites(t, c)
	if !errors.As(err, &fe) || fe.Field != "sites[0].routes[0].auth.jwt.public_key_files[0]" || !strings.Contains(err.Error(), "/nonexistent/a.pem") {
		t.Errorf("error %v (%+v)", err, fe)
	}
}

func TestRouteWithoutGuards(t *testing.T) {
	c := parseValid(t, "upstream: {origin: 'http://o'}\nsites: [{name: s, hosts: [a.test], routes: [{path: /, rate_limit: null}]}]\n")
	sites, err := testSites(t, c)
	if err != nil {
		t.Fatal(err)
	}
	r := sites[0].Routes[0]
	if r.Access != nil || r.RateLimit != nil || r.Auth != nil || sites[0].HTTPSRedirect || len(sites[0].ResponseHeaders.Set) != 0 {
		t.Errorf("route = %+v, site = %+v: want no guards", r, sites[0])
	}
}

func TestClientIP(t *testing.T) {
	setSecrets(t)
	c := parseValid(t, guardsYAML)
	got := c.TrustedProxies()
	if len(got) != 2 || got[0].String() != "10.0.0.0/8" || got[1].String() != "192.0.2.1/32" {
		t.Errorf("TrustedProxies = %v", got)
	}
	res := c.ClientIP()
	tests := []struct {
		remote, xff, want string
	}{
		{"10.1.2.3:5000", "198.51.100.9", "198.51.100.9"},    // trusted peer: header believed
		{"198.51.100.1:5000", "203.0.113.5", "198.51.100.1"}, // untrusted peer: header ignored
	}
	for _, tt := range tests {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = tt.remote
		req.Header.Set("X-Forwarded-For", tt.xff)
		if ip := res.ClientIP(req); ip.String() != tt.want {
			t.Errorf("ClientIP(%s, XFF %s) = %s, want %s", tt.remote, tt.xff, ip, tt.want)
		}
	}
	if Default().ClientIP() != nil {
		t.Error("ClientIP without trusted proxies should be nil")
	}
}

func TestHSTSProblem(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"max-age=31536000", true},
		{"max-age=31536000; includeSubDomains; preload", true},
		{`max-age="600"`, true}, // RFC 6797 §6.1.1 allows a quoted-string
		{"MAX-AGE=0", true},     // RFC 6797 §6.1.1: 0 tells the UA to forget the host
		{"includeSubDomains", false},
		{"max-age", false},
		{"max-age=-1", false},
		{"max-age=1; max-age=2", false},
		{"max-age=1\r\nX: y", false},
	}
	for _, tt := range tests {
		if got := hstsProblem(tt.in) == ""; got != tt.ok {
			t.Errorf("hstsProblem(%q) ok = %v, want %v (%s)", tt.in, got, tt.ok, hstsProblem(tt.in))
		}
	}
}
