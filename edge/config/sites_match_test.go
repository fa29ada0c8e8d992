package config

import (
	"strings"
	"testing"

	"edged/origin"
)

// TestMatchValidateErrors checks one message per rule of match conditions,
// with field path and line, each against sitesYAML with the cache line of
// sites[0].routes[1] replaced.
func TestMatchValidateErrors(t *testing.T) {
	tests := []struct{ name, repl, want string }{
		{"header name", "{headers: {'X A': '1'}}", `edged.yaml:25: sites[0].routes[1].match.headers.X A: invalid header name "X A"`},
		{"header value", `{headers: {X-Canary: "1\r\n"}}`, "edged.yaml:25: sites[0].routes[1].match.headers.X-Canary: header value must not contain CR, LF or NUL"},
		{"header value whitespace", "{headers: {X-Canary: ' 1'}}", `edged.yaml:25: sites[0].routes[1].match.headers.X-Canary: value " 1" has surrounding whitespace`},
		{"cookie header", "{headers: {cookie: 'beta=1'}}", "edged.yaml:25: sites[0].routes[1].match.headers.cookie: match cookies with match.cookies"},
		{"host header", "{headers: {Host: a.test}}", "edged.yaml:25: sites[0].routes[1].match.headers.Host: the host chooses the site"},
		{"stripped header", "{headers: {x-real-ip: 10.0.0.1}}", "edged.yaml:25: sites[0].routes[1].match.headers.x-real-ip: server.strip_request_headers removes this field"},
		{"stripped prefix", "{headers: {X-Forwarded-Host: a}}", "edged.yaml:25: sites[0].routes[1].match.headers.X-Forwarded-Host: server.strip_request_headers removes this field"},
		{"underscore", "{headers: {X_Canary: '1'}}", `edged.yaml:25: sites[0].routes[1].match.headers.X_Canary: the edge drops fields whose name holds "_"`},
		{"cookie name", "{cookies: {'a b': '1'}}", `edged.yaml:25: sites[0].routes[1].match.cookies.a b: invalid cookie name "a b"`},
		{"cookie value", "{cookies: {beta: 'a;b'}}", `edged.yaml:25: sites[0].routes[1].match.cookies.beta: invalid cookie value "a;b"`},
		{"query name", "{query: {'': x}}", "edged.yaml:25: sites[0].routes[1].match.query: empty parameter name"},
		{"not a mapping", "[a]", "edged.yaml:25: sites[0].routes[1].match: want a mapping of fields, got a list"},
		{"unknown field", "{header: {a: b}}", `edged.yaml:25: unknown field "header" in sites[0].routes[1].match (known: headers, cookies, query)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := parseErr(t, withLine(t, 25, "        match: "+tt.repl))
			if !strings.Contains(err, tt.want) {
				t.Errorf("error %q\ndoes not contain %q", err, tt.want)
			}
		})
	}
}

// TestMatchRepeatedRoute: routes may share a path only with different
// conditions; header names compare in any case, map order does not count.
func TestMatchRepeatedRoute(t *testing.T) {
	site := func(routes string) string {
		return "upstream:\n  origin: http://127.0.0.1:9000\nsites:\n  - name: s\n    hosts: [s.test]\n    routes:\n" + routes
	}
	parseValid(t, site("      - {path: /}\n      - {path: /, match: {headers: {X-Canary: '1'}}}\n      - {path: /, match: {cookies: {X-Canary: '1'}}}\n"+
		"      - {path: /, match: {headers: {X-Canary: '2'}}}\n      - {path: /a/, match: {headers: {X-Canary: '1'}}}\n"))
	for _, tt := range []struct{ routes, want string }{
		{"      - {path: /}\n      - {path: /}\n", `edged.yaml:8: sites[0].routes[1].path: repeated path "/" (same as sites[0].routes[0])`},
		{"      - {path: /, match: {headers: {X-Canary: '1'}, query: {v: '2'}}}\n      - {path: /, match: {query: {v: '2'}, headers: {x-canary: '1'}}}\n",
			`edged.yaml:8: sites[0].routes[1].path: repeated path "/" with the same match conditions (same as sites[0].routes[0])`},
	} {
		if err := parseErr(t, site(tt.routes)); !strings.Contains(err, tt.want) {
			t.Errorf("error %q\ndoes not contain %q", err, tt.want)
		}
	}
}

// TestMatchToEdge: the file's conditions reach edge.Route.Match; a route
// without them has none.
func TestMatchToEdge(t *testing.T) {
	c := parseValid(t, withLine(t, 25, "        match: {headers: {X-Canary: '1'}, cookies: {beta: '1'}, query: {v: '2'}}"))
	sites, err := c.EdgeSites(testClients(t))
	if err != nil {
		t.Fatal(err)
	}
	r0, r1 := sites[0].Routes[0], sites[0].Routes[1]
	if r0.Match != nil {
		t.Errorf("route without match: Match = %+v", r0.Match)
	}
	if m := r1.Match; m == nil || m.Headers["X-Canary"] != "1" || m.Cookies["beta"] != "1" || m.Query["v"] != "2" {
		t.Errorf("Match = %+v", m)
	}
}

// parseErr parses and validates in, which must fail, and returns the error.
func parseErr(t *testing.T, in string) string {
	t.Helper()
	c, err := Parse([]byte(in), "edged.yaml")
	if err == nil {
		err = c.Validate()
	}
	if err == nil {
		t.Fatalf("accepted:\n%s", in)
	}
	return err.Error()
}

// TestCORSValidateErrors checks that a route's CORS problems name the
// field and line, against sitesYAML with the cache line of
// sites[0].routes[1] replaced.
func TestCORSValidateErrors(t *testing.T) {
	tests := []struct{ name, repl, want string }{
		{"star with credentials", "{allowed_origins: ['*'], allow_credentials: true}",
			`edged.yaml:25: sites[0].routes[1].cors.allowed_origins[0]: "*" cannot be combined with allow_credentials`},
		{"origin with path", "{allowed_origins: [https://a.example, https://b.example/x]}",
			`edged.yaml:25: sites[0].routes[1].cors.allowed_origins[1]: want an origin such as https://app.example.com`},
		{"null origin", "{allowed_origins: ['null']}", `edged.yaml:25: sites[0].routes[1].cors.allowed_origins[0]: "null" is the origin`},
		{"settings without origins", "{max_age: 1m}", "edged.yaml:25: sites[0].routes[1].cors.allowed_origins: required"},
		{"method", "{allowed_origins: ['*'], allowed_methods: [get]}", "edged.yaml:25: sites[0].routes[1].cors.allowed_methods[0]: want an upper-case method name"},
		{"max age", "{allowed_origins: ['*'], max_age: 1500ms}", "edged.yaml:25: sites[0].routes[1].cors.max_age: want whole seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := parseErr(t, withLine(t, 25, "        cors: "+tt.repl))
			if !strings.Contains(err, tt.want) {
				t.Errorf("error %q\ndoes not contain %q", err, tt.want)
			}
		})
	}
	c := parseValid(t, withLine(t, 25, "        cors: {allowed_origins: [https://app.example], allow_credentials: true, max_age: 10m}"))
	sites, err := c.EdgeSites(testClients(t))
	if err != nil {
		t.Fatal(err)
	}
	if sites[0].Routes[0].CORS != nil || sites[0].Routes[1].CORS == nil {
		t.Errorf("CORS policies: route 0 %v, route 1 %v; want none, one", sites[0].Routes[0].CORS, sites[0].Routes[1].CORS)
	}
}

// testClients builds a client per upstream that is never dialled, closed
// when the test ends.
func testClients(t *testing.T) func(UpstreamRef) (*origin.Client, error) {
	return func(UpstreamRef) (*origin.Client, error) {
		cl, err := origin.New(origin.Options{Origin: "http://127.0.0.1:1", Via: "edged"})
		if err == nil {
			t.Cleanup(cl.Close)
		}
		return cl, err
	}
}

// TestClientIPHashConfig: a pool's algorithm client_ip_hash reaches origin.
func TestClientIPHashConfig(t *testing.T) {
	c := parseValid(t, strings.Replace(sitesYAML, "    algorithm: least_conn\n", "    algorithm: client_ip_hash\n", 1))
	if got := c.PoolOptions()["api"].Algorithm; got != origin.ClientIPHash {
		t.Errorf("pools.api algorithm %q, want %q", got, origin.ClientIPHash)
	}
	p, err := origin.NewPool(c.PoolOptions()["api"])
	if err != nil {
		t.Fatalf("NewPool: %v", err)
	}
	p.Close()
}
