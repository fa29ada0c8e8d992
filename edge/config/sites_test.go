package config

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"edged/origin"
)

// sitesYAML is a valid configuration with two pools and two sites; tests
// change one line of it. Line numbers matter: see the comments.
const sitesYAML = `upstream:
  origin: http://127.0.0.1:9000
pools:
  api:
    servers: [{url: http://127.0.0.1:9001, weight: 2}, {url: http://127.0.0.1:9002}]
    algorithm: least_conn
    health: {path: /healthz, interval: 1s}
    retries: 0
  web:
    servers:
      - url: http://127.0.0.1:9003
sites:
  - name: example
    hosts: [www.example.com, "*.example.com"]
    routes:
      - path: /
        pool: web
      - path: /api/
        pool: api
        strip_prefix: true
        splits: [{name: canary, pool: web, weight: 5}]
        sticky_cookie: lane
        request_headers: {set: {X-A: b}, remove: [X-B]}
        response_headers: {remove: [Server]}
        cache: {default_ttl: 1m, keep_query: [page], slice: 2MiB}
  - name: other
    hosts: [other.test]
    shields: [http://127.0.0.1:8090]
    shield_fallback: false
    routes:
      - path: /
`

// withLine returns sitesYAML with line n (1-based) replaced by repl.
func withLine(t testing.TB, n int, repl string) string {
	t.Helper()
	lines := strings.Split(sitesYAML, "\n")
	if n < 1 || n > len(lines) {
		t.Fatalf("line %d out of range", n)
	}
	lines[n-1] = repl
	return strings.Join(lines, "\n")
}

func parseValid(t testing.TB, in string) *Config {
	t.Helper()
	c, err := Parse([]byte(in), "edged.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestParseSites(t *testing.T) {
	c := parseValid(t, sitesYAML)
	api, web := c.Pools["api"], c.Pools["web"]
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"api servers", api.Servers, []PoolServer{{"http://127.0.0.1:9001", 2}, {"http://127.0.0.1:9002", 1}}},
		{"api algorithm", api.Algorithm, "least_conn"},
		{"api health set", api.Health.Interval.Std(), time.Second},
		{"api health default timeout", api.Health.Timeout.Std(), 2 * time.Second},
		{"api health default expect", api.Health.Expect, 200},
		{"api retries", api.Retries, 0},
		{"web default algorithm", web.Algorithm, "round_robin"},
		{"web default retries", web.Retries, 2},
		{"web default ejection", web.Ejection, Ejection{5, Duration(30 * time.Second), Duration(5 * time.Minute)}},
		{"web default weight", web.Servers[0].Weight, 1},
		{"web no health", web.Health.Path, ""},
		{"site hosts", c.Sites[0].Hosts, []string{"www.example.com", "*.example.com"}},
		{"site shields unset", c.Sites[0].Shields == nil, true},
		{"route splits", c.Sites[0].Routes[1].Splits, []Split{{"canary", "web", 5}}},
		{"route headers", c.Sites[0].Routes[1].RequestHeaders, Headers{Set: map[string]string{"X-A": "b"}, Remove: []string{"X-B"}}},
		{"route cache", c.Sites[0].Routes[1].Cache, RouteCache{DefaultTTL: Duration(time.Minute), KeepQuery: []string{"page"}, Slice: 2 << 20}},
		{"site fallback", *c.Sites[1].ShieldFallback, false},
		{"unused pools", c.UnusedPools(), []string(nil)},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %#v, want %#v", tt.name, tt.got, tt.want)
		}
	}
}

func TestPoolOptions(t *testing.T) {
	c := parseValid(t, sitesYAML)
	got := c.PoolOptions()
	if len(got) != 2 {
		// "default" is not used: every route names a pool, and site
		// "other" fetches only through its shield.
		t.Fatalf("PoolOptions has %d pools, want api and web: %v", len(got), got)
	}
	api := got["api"]
	want := origin.PoolOptions{
		Name:           "api",
		Servers:        []origin.Server{{URL: "http://127.0.0.1:9001", Weight: 2}, {URL: "http://127.0.0.1:9002", Weight: 1}},
		Algorithm:      "least_conn",
		Health:         origin.HealthCheck{Path: "/healthz", Interval: time.Second, Timeout: 2 * time.Second, Expect: 200, Rise: 2, Fall: 3},
		Ejection:       origin.Ejection{Failures: 5, Backoff: 30 * time.Second, MaxBackoff: 5 * time.Minute},
		NoRetries:      true, // retries: 0 disables; retry_timeout 0 is origin's default
		ConnectTimeout: 5 * time.Second, HeaderTimeout: 30 * time.Second, BodyTimeout: time.Minute,
		MaxIdlePerHost: 64,
	}
	if !reflect.DeepEqual(api, want) {
		t.Errorf("api =\n%+v\nwant\n%+v", api, want)
	}
	for name, po := range got {
		if _, err := origin.NewPool(po); err != nil {
			t.Errorf("origin.NewPool(%s): %v", name, err)
		}
	}

	// A route without a pool uses upstream.origin as the pool "default".
	c = parseValid(t, "upstream: {origin: 'http://o:1'}\nsites: [{name: s, hosts: [a.test], routes: [{path: /}]}]\n")
	def, ok := c.PoolOptions()[DefaultPool]
	if !ok || len(def.Servers) != 1 || def.Servers[0].URL != "http://o:1" || !def.NoRetries || !def.Ejection.Disabled {
		t.Errorf("default pool = %+v, %v", def, ok)
	}
}

func TestEdgeSitesShareClients(t *testing.T) {
	c := parseValid(t, sitesYAML)
	var refs []string
	built := map[string]*origin.Client{}
	sites, err := c.EdgeSites(func(ref UpstreamRef) (*origin.Client, error) {
		refs = append(refs, fmt.Sprintf("%s|%v|%v", ref.Pool, ref.Shields, ref.ShieldFallback))
		if cl, ok := built[ref.Key()]; ok {
			return cl, nil
		}
		oo := c.ClientOptions(ref)
		if ref.Pool != "" {
			oo.Origin = "http://127.0.0.1:1" // stands for the pool in this test
		}
		cl, err := origin.New(oo)
		if err == nil {
			built[ref.Key()] = cl
			t.Cleanup(cl.Close)
		}
		return cl, err
	})
	if err != nil {
		t.Fatal(err)
	}
	wantRefs := []string{"web|[]|false", "api|[]|false", "web|[]|false", "|[http://127.0.0.1:8090]|false"}
	if !reflect.DeepEqual(refs, wantRefs) {
		t.Errorf("refs = %q, want %q", refs, wantRefs)
	}
	if len(built) != 3 {
		t.Errorf("built %d clients, want 3 (web shared by a route and a split)", len(built))
	}
	r := sites[0].Routes[1]
	if r.PathPrefix != "/api/" || !r.StripPrefix || r.StickyCookie != "lane" || len(r.Splits) != 1 ||
		r.Splits[0].Upstream != sites[0].Routes[0].Upstream || r.Cache.DefaultTTL != time.Minute || r.Cache.Slice != 2<<20 || r.ResponseHeaders.Remove[0] != "Server" {
		t.Errorf("route = %+v", r)
	}
}

func TestSiteShieldsInherit(t *testing.T) {
	in := "upstream:\n  origin: http://o\n  shields: [http://s1, http://s2]\n" +
		"sites:\n  - {name: a, hosts: [a.test], routes: [{path: /}]}\n" +
		"  - {name: b, hosts: [b.test], shields: [], routes: [{path: /}]}\n" +
		"  - {name: c, hosts: [c.test], shields: [http://s3], shield_fallback: false, routes: [{path: /}]}\n"
	c := parseValid(t, in)
	tests := []struct {
		site     int
		shields  []string
		fallback bool
	}{
		{0, []string{"http://s1", "http://s2"}, true},
		{1, []string{}, false},
		{2, []string{"http://s3"}, false},
	}
	for _, tt := range tests {
		shields, fallback := c.SiteShields(c.Sites[tt.site])
		if !reflect.DeepEqual(shields, tt.shields) || fallback != tt.fallback {
			t.Errorf("site %d: %v %v, want %v %v", tt.site, shields, fallback, tt.shields, tt.fallback)
		}
	}
}

// A site's max_stale and ignore_client_no_cache override the cache
// section's; left out they inherit it. max_stale 0 turns max-stale off
// (a negative policy.Options.MaxStale).
func TestSitePolicyInherit(t *testing.T) {
	in := "upstream:\n  origin: http://o\ncache:\n  max_stale: 1m\n  ignore_client_no_cache: true\n" +
		"sites:\n  - {name: a, hosts: [a.test], routes: [{path: /}]}\n" +
		"  - {name: b, hosts: [b.test], max_stale: 0s, ignore_client_no_cache: false, routes: [{path: /}]}\n" +
		"  - {name: c, hosts: [c.test], max_stale: 1h, routes: [{path: /}]}\n"
	c := parseValid(t, in)
	if p := c.PolicyOptions(); p.MaxStale != time.Minute || !p.IgnoreClientNoCache {
		t.Errorf("PolicyOptions = %+v, want max-stale 1m and ignore", p)
	}
	sites, err := c.EdgeSites(func(ref UpstreamRef) (*origin.Client, error) {
		cl, err := origin.New(origin.Options{Origin: "http://127.0.0.1:1", Via: "edged"})
		if err == nil {
			t.Cleanup(cl.Close)
		}
		return cl, err
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		maxStale   time.Duration
		noMaxStale bool // the file's 0
		ignore     bool
	}{{time.Minute, false, true}, {0, true, false}, {time.Hour, false, true}}
	for i, tt := range tests {
		if p := sites[i].Policy; p == nil || p.MaxStale != tt.maxStale || p.NoMaxStale != tt.noMaxStale || p.IgnoreClientNoCache != tt.ignore || p.HeuristicMax != 24*time.Hour {
			t.Errorf("site %d: Policy = %+v, want max-stale %v ignore %v (and the node's other rules)", i, p, tt.maxStale, tt.ignore)
		}
	}
}

// TestSitesValidateErrors checks one message per rule, with field path and
// line, each against sitesYAML with one line changed.
func TestSitesValidateErrors(t *testing.T) {
	tests := []struct {
		name string
		line int
		repl string
		want string
	}{
		{"unknown pool", 19, "        pool: apii", `edged.yaml:19: sites[0].routes[1].pool: unknown pool "apii" (pools: api, default, web)`},
		{"unknown algorithm", 6, "    algorithm: random", `edged.yaml:6: pools.api.algorithm: unknown algorithm "random" (want round_robin, weighted_round_robin, least_conn, consistent_hash, client_ip_hash)`},
		{"empty pool", 10, "    servers: []", "edged.yaml:10: pools.web.servers: empty: a pool needs at least one server"},
		{"pool without servers", 11, "", "edged.yaml:10: pools.web.servers: empty"},
		{"bad server URL", 11, "      - url: 127.0.0.1:9003", `edged.yaml:11: pools.web.servers[0].url: invalid URL "127.0.0.1:9003"`},
		{"server URL scheme", 11, "      - url: ftp://x", `pools.web.servers[0].url: invalid URL "ftp://x": scheme must be http or https`},
		{"repeated server", 5, "    servers: [{url: http://h:1}, {url: 'http://H:1/'}]", `edged.yaml:5: pools.api.servers[1].url: repeated server "http://H:1/" (same as servers[0])`},
		{"negative weight", 5, "    servers: [{url: http://h:1, weight: -1}]", "edged.yaml:5: pools.api.servers[0].weight: must be at least 1, got -1"},
		{"zero weight", 5, "    servers: [{url: http://h:1, weight: 0}]", "edged.yaml:5: pools.api.servers[0].weight: must be at least 1, got 0"},
		{"health path", 7, "    health: {path: healthz}", `edged.yaml:7: pools.api.health.path: must start with /, got "healthz"`},
		{"health interval", 7, "    health: {interval: 0s}", "edged.yaml:7: pools.api.health.interval: must be positive"},
		{"health expect", 7, "    health: {expect: 99}", "edged.yaml:7: pools.api.health.expect: must be an HTTP status (100 to 599), got 99"},
		{"health rise", 7, "    health: {rise: 0}", "edged.yaml:7: pools.api.health.rise: must be at least 1"},
		{"health host", 7, "    health: {host: 'a b'}", `edged.yaml:7: pools.api.health.host: invalid host "a b"`},
		{"ejection failures", 7, "    ejection: {failures: -1}", "edged.yaml:7: pools.api.ejection.failures: must not be negative"},
		{"ejection max backoff", 7, "    ejection: {backoff: 1m, max_backoff: 30s}", "edged.yaml:7: pools.api.ejection.max_backoff: must not be less than the backoff (1m0s), got 30s"},
		{"retries", 8, "    retries: -1", "edged.yaml:8: pools.api.retries: must not be negative"},
		{"retry timeout", 8, "    retry_timeout: -1s", "edged.yaml:8: pools.api.retry_timeout: must not be negative"},
		{"max conns", 8, "    max_conns_per_host: -2", "edged.yaml:8: pools.api.max_conns_per_host: must not be negative"},
		{"pool name", 9, "  we.b:", `edged.yaml:9: pools.we.b: invalid pool name "we.b"`},
		{"default pool taken", 9, "  default:", `edged.yaml:9: pools.default: the pool name "default" is taken by upstream.origin`},
		{"duplicate host across sites", 27, "    hosts: [other.test, WWW.example.com]", `edged.yaml:27: sites[1].hosts[1]: host "WWW.example.com" is already served by site "example"`},
		{"duplicate wildcard", 27, "    hosts: ['*.example.com']", `edged.yaml:27: sites[1].hosts[0]: host "*.example.com" is already served by site "example"`},
		{"host with port", 27, "    hosts: ['other.test:80']", `edged.yaml:27: sites[1].hosts[0]: invalid host "other.test:80" (want www.example.com or *.example.com, no port)`},
		{"deep wildcard", 27, "    hosts: ['a.*.test']", `sites[1].hosts[0]: invalid host "a.*.test"`},
		{"no hosts", 27, "    hosts: []", "edged.yaml:27: sites[1].hosts: required: at least one hostname"},
		{"site name missing", 26, "  - name: ''", "edged.yaml:26: sites[1].name: required"},
		{"site name repeated", 26, "  - name: example", `edged.yaml:26: sites[1].name: repeated site name "example" (same as sites[0])`},
		{"site shield URL", 28, "    shields: [nope]", `edged.yaml:28: sites[1].shields[0]: invalid URL "nope"`},
		{"no routes", 30, "    routes: []", "edged.yaml:30: sites[1].routes: required: at least one route"},
		{"route path no slash", 18, "      - path: api/", `edged.yaml:18: sites[0].routes[1].path: must start with /, got "api/"`},
		{"route path empty", 18, "      - path: ''", `edged.yaml:18: sites[0].routes[1].path: required: a path prefix such as / (every path) or /api/`},
		{"duplicate route path", 18, "      - path: /", `edged.yaml:18: sites[0].routes[1].path: repeated path "/" (same as sites[0].routes[0])`},
		{"split unknown pool", 21, "        splits: [{name: canary, pool: nope, weight: 5}]", `edged.yaml:21: sites[0].routes[1].splits[0].pool: unknown pool "nope" (pools: api, default, web)`},
		{"split without pool", 21, "        splits: [{name: canary, weight: 5}]", "edged.yaml:21: sites[0].routes[1].splits[0].pool: required"},
		{"split negative weight", 21, "        splits: [{name: canary, pool: web, weight: -5}]", "edged.yaml:21: sites[0].routes[1].splits[0].weight: must not be negative, got -5"},
		{"all server weights zero", 5, "    servers: [{url: http://h:1, weight: 0}, {url: http://h:2, weight: 0}]", "edged.yaml:5: pools.api.servers[1].weight: must be at least 1, got 0"},
		{"split name", 21, "        splits: [{name: 'a b', pool: web, weight: 5}]", `edged.yaml:21: sites[0].routes[1].splits[0].name: want a name of letters`},
		{"split name primary", 21, "        splits: [{name: primary, pool: web, weight: 5}]", `splits[0].name: want a name`},
		{"split name repeated", 21, "        splits: [{name: a, pool: web, weight: 5}, {name: a, pool: api, weight: 5}]", `edged.yaml:21: sites[0].routes[1].splits[1].name: repeated split name "a"`},
		{"negative primary weight", 22, "        primary_weight: -1", "edged.yaml:22: sites[0].routes[1].primary_weight: must not be negative"},
		{"sticky cookie", 22, "        sticky_cookie: 'a b'", `edged.yaml:22: sites[0].routes[1].sticky_cookie: must be a cookie name`},
		{"sticky without splits", 17, "        pool: api\n        sticky_cookie: x", ""},
		{"header name", 23, "        request_headers: {set: {'X A': b}}", `edged.yaml:23: sites[0].routes[1].request_headers.set.X A: invalid header name "X A"`},
		{"header value", 23, "        request_headers: {set: {X-A: \"a\\nb\"}}", "edged.yaml:23: sites[0].routes[1].request_headers.set.X-A: header value must not contain CR, LF or NUL"},
		{"remove header name", 24, "        response_headers: {remove: ['']}", `edged.yaml:24: sites[0].routes[1].response_headers.remove[0]: invalid header name ""`},
		{"site max stale", 29, "    max_stale: -5m", "edged.yaml:29: sites[1].max_stale: must not be negative, got -5m0s"},
		{"default ttl", 25, "        cache: {default_ttl: -1s}", "edged.yaml:25: sites[0].routes[1].cache.default_ttl: must not be negative"},
		{"slice too small", 25, "        cache: {slice: 1KiB}", "edged.yaml:25: sites[0].routes[1].cache.slice: must be 0 (off) or from 64KiB to 64MiB, got 1KiB"},
		{"slice too large", 25, "        cache: {slice: 1GiB}", "edged.yaml:25: sites[0].routes[1].cache.slice: must be 0 (off) or from 64KiB to 64MiB"},
		{"slice with bypass", 25, "        cache: {slice: 1MiB, bypass: true}", "edged.yaml:25: sites[0].routes[1].cache.slice: conflicts with cache.bypass"},
		{"ignore and keep query", 25, "        cache: {ignore_query: true, keep_query: [a]}", "edged.yaml:25: sites[0].routes[1].cache.keep_query: conflicts with cache.ignore_query"},
		{"route needs a pool", 29, "    shield_fallback: true", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := withLine(t, tt.line, tt.repl)
			want := tt.want
			switch tt.name {
			case "empty pool":
				in = strings.Replace(sitesYAML, "    servers:\n      - url: http://127.0.0.1:9003\n", "    servers: []\n", 1)
			case "pool without servers":
				in = strings.Replace(sitesYAML, "    servers:\n      - url: http://127.0.0.1:9003\n", "    algorithm: round_robin\n", 1)
			case "no routes":
				in = strings.TrimSuffix(sitesYAML, "    routes:\n      - path: /\n") + "    routes: []\n"
			case "sticky without splits":
				in = strings.Replace(sitesYAML, "        pool: web\n", "        pool: web\n        sticky_cookie: x\n", 1)
				want = "edged.yaml:18: sites[0].routes[0].sticky_cookie: has no effect without splits"
			case "route needs a pool":
				in = strings.Replace(in, "  origin: http://127.0.0.1:9000\n", "  origin: ''\n", 1)
				want = "edged.yaml:31: sites[1].routes[0].pool: required: name a pool (there is no default pool: upstream.origin is empty; pools: api, web)"
			}
			c, err := Parse([]byte(in), "edged.yaml")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			err = c.Validate()
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q\ndoes not contain %q", err, want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("error %T is not a *FieldError", err)
			}
		})
	}
}

// TestSplitWeights: a primary_weight of 0 is 100 minus the splits, so
// all-zero splits leave the primary everything and splits of 100 leave it
// nothing; neither is an error. Negative weights are.
func TestSplitWeights(t *testing.T) {
	for _, splits := range []string{"[{name: a, pool: web, weight: 0}]", "[{name: a, pool: web, weight: 100}]", "[{name: a, pool: web, weight: 60}, {name: b, pool: api, weight: 60}]"} {
		parseValid(t, strings.Replace(sitesYAML, "[{name: canary, pool: web, weight: 5}]", splits, 1))
	}
}

// TestSitesParseErrors: the strict decoding of the new sections names
// file, line and field like the rest of the file.
func TestSitesParseErrors(t *testing.T) {
	tests := []struct {
		name string
		line int
		repl string
		want string
	}{
		{"unknown pool field", 8, "    retrys: 0", `edged.yaml:8: unknown field "retrys" in pools.api (known: servers, algorithm, health`},
		{"unknown health field", 7, "    health: {pth: /h}", `edged.yaml:7: unknown field "pth" in pools.api.health`},
		{"unknown server field", 11, "      - uri: http://x", `edged.yaml:11: unknown field "uri" in pools.web.servers[0] (known: url, weight)`},
		{"unknown route field", 20, "        strip: true", `edged.yaml:20: unknown field "strip" in sites[0].routes[1] (known: path, pool, strip_prefix`},
		{"unknown site field", 29, "    fallback: false", `edged.yaml:29: unknown field "fallback" in sites[1]`},
		{"repeated pool", 9, "  api:", "edged.yaml:9: pools.api: repeated key (first set at line 4)"},
		{"bad pool duration", 8, "    retry_timeout: 5", `edged.yaml:8: pools.api.retry_timeout: invalid duration "5"`},
		{"bad route duration", 25, "        cache: {default_ttl: forever}", `edged.yaml:25: sites[0].routes[1].cache.default_ttl: invalid duration "forever"`},
		{"bad weight", 5, "    servers: [{url: http://h, weight: heavy}]", `edged.yaml:5: pools.api.servers[0].weight: want an integer, got "heavy"`},
		{"pools a list", 3, "pools: []", "edged.yaml:3: pools: want a mapping, got a list"},
		{"sites a mapping", 12, "sites: {a: 1}", "edged.yaml:12: sites: want a list, got a mapping"},
		{"fallback not bool", 29, "    shield_fallback: maybe", `edged.yaml:29: sites[1].shield_fallback: want true or false, got "maybe"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := withLine(t, tt.line, tt.repl)
			switch tt.name {
			case "pools a list":
				in = strings.Replace(in, in[strings.Index(in, "pools: []\n")+len("pools: []\n"):strings.Index(in, "sites:")], "", 1)
			case "sites a mapping":
				in = in[:strings.Index(in, "sites: {a: 1}")] + "sites: {a: 1}\n"
			}
			_, err := Parse([]byte(in), "edged.yaml")
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q\ndoes not contain %q", err, tt.want)
			}
		})
	}
}

func TestPoolsWithoutSites(t *testing.T) {
	c, err := Parse([]byte("upstream: {origin: 'http://o'}\npools:\n  web: {servers: [{url: 'http://w'}]}\n"), "edged.yaml")
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	if err == nil || !strings.Contains(err.Error(), "edged.yaml:3: pools: set but no sites use them") {
		t.Errorf("Validate = %v", err)
	}
}

// A shield's edges name the pool of each request (origin.PoolHeader): a
// shield starts every pool, with or without sites, and "default" stays
// upstream.origin's name.
func TestShieldPools(t *testing.T) {
	c := parseValid(t, "role: shield\nupstream: {origin: 'http://o'}\npools:\n  web: {servers: [{url: 'http://w'}]}\n")
	if got := slices.Sorted(maps.Keys(c.PoolOptions())); !slices.Equal(got, []string{"web"}) {
		t.Errorf("PoolOptions of a shield without sites: %v, want [web] (upstream.origin is its own client)", got)
	}
	c = parseValid(t, "role: shield\nupstream: {origin: 'http://o'}\npools: {web: {servers: [{url: 'http://w'}]}}\nsites: [{name: s, hosts: [a.test], routes: [{path: /}]}]\n")
	if got := c.UnusedPools(); got != nil {
		t.Errorf("UnusedPools of a shield = %v, want none", got)
	}
	if got := slices.Sorted(maps.Keys(c.PoolOptions())); !slices.Equal(got, []string{"default", "web"}) {
		t.Errorf("PoolOptions of a shield with sites: %v, want [default web]", got)
	}
	c, err := Parse([]byte("role: shield\nupstream: {origin: 'http://o'}\npools:\n  default: {servers: [{url: 'http://w'}]}\n"), "edged.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `the pool name "default" is taken by upstream.origin`) {
		t.Errorf("Validate = %v, want the default pool refused", err)
	}
}

// A pool that routes name only to their shields is used: the name tells
// the shields which pool a request is for.
func TestPoolNamedOnlyToShields(t *testing.T) {
	c := parseValid(t, "pools: {web: {servers: [{url: 'http://w'}]}, spare: {servers: [{url: 'http://s'}]}}\nsites: [{name: s, hosts: [a.test], shields: ['http://sh'], shield_fallback: false, routes: [{path: /, pool: web}]}]\n")
	if got := c.UnusedPools(); !slices.Equal(got, []string{"spare"}) {
		t.Errorf("UnusedPools = %v, want [spare]", got)
	}
	if got := len(c.PoolOptions()); got != 0 {
		t.Errorf("PoolOptions has %d pools, want none (every request goes to a shield)", got)
	}
}

func TestSitesWithoutOrigin(t *testing.T) {
	c := parseValid(t, "pools: {web: {servers: [{url: 'http://w'}]}}\nsites: [{name: s, hosts: [a.test], routes: [{path: /, pool: web}]}]\n")
	if got := c.UnusedPools(); got != nil {
		t.Errorf("UnusedPools = %v", got)
	}
	c = parseValid(t, "upstream: {origin: 'http://o'}\npools: {web: {servers: [{url: 'http://w'}]}}\nsites: [{name: s, hosts: [a.test], routes: [{path: /}]}]\n")
	if got := c.UnusedPools(); !reflect.DeepEqual(got, []string{"web"}) {
		t.Errorf("UnusedPools = %v, want [web]", got)
	}
}
