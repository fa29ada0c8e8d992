package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"edged/edge/config"
	"edged/origin"
)

// poolOrigin starts an origin that answers "NAME vN of URI" (N counting
// its answers), fresh for 10 minutes, tagged "pool-NAME"; a request with
// X-Tenant is answered per tenant (Vary: X-Tenant). It records the PoolHeader of the last
// request it was sent.
func poolOrigin(t *testing.T, name string) (srv *httptest.Server, poolSeen *atomic.Value) {
	t.Helper()
	var n atomic.Int64
	poolSeen = new(atomic.Value)
	poolSeen.Store("")
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		poolSeen.Store(r.Header.Get(origin.PoolHeader))
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Vary", "X-Tenant")
		w.Header().Set("Surrogate-Key", "pool-"+name)
		tenant := ""
		if v := r.Header.Get("X-Tenant"); v != "" {
			tenant = " for " + v
		}
		fmt.Fprintf(w, "%s v%d of %s%s", name, n.Add(1), r.URL.RequestURI(), tenant)
	}))
	t.Cleanup(srv.Close)
	return srv, poolSeen
}

// startPoolFleet starts a shield with pools a and b (a is also
// upstream.origin, the shield's default) that trusts the edges on
// 127.0.0.0/8, and an edge on the same purge bus whose sites send routes
// to different pools through it, several of them the same upstream URL.
func startPoolFleet(t *testing.T, a, b string) (edge, shield *fleetNode) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs two nodes and a NATS server; skipped with -short")
	}
	natsAddr := freeAddr(t)
	t.Setenv(natsTokenEnv, "fleet-nats-token")
	shield = startFleetNode(t, shieldConfig(t, fmt.Sprintf(`
server: {trusted_proxies: [127.0.0.0/8]}
upstream: {origin: %s}
pools:
  a: {servers: [{url: %s}]}
  b: {servers: [{url: %s}]}
purge:
  nats: {listen: "%s", token_env: %s}
`, a, a, b, natsAddr, natsTokenEnv)))
	edgeCfg, err := config.Parse(fmt.Appendf(nil, `
name: edge
listen: 127.0.0.1:0
admin: 127.0.0.1:0
data: %s
pools:
  a: {servers: [{url: %s}]}
  b: {servers: [{url: %s}]}
purge:
  nats: {url: "nats://%s", token_env: %s}
sites:
  - name: www
    hosts: [www.example.com]
    shields: [%s]
    shield_fallback: false
    routes:
      - {path: /, pool: a}
      - {path: /a/, pool: a, strip_prefix: true}
      - {path: /b/, pool: b, strip_prefix: true}
      - {path: /d/, strip_prefix: true}
      - {path: "/ua/{id}", pool: a, upstream_path: "/u/{id}"}
      - {path: "/ub/{id}", pool: b, upstream_path: "/u/{id}"}
      - {path: /qa/, pool: a, strip_prefix: true, cache: {ignore_query: true}}
      - {path: /qb/, pool: b, strip_prefix: true, cache: {keep_query: [v]}}
      - {path: /t1/, pool: a, strip_prefix: true, request_headers: {set: {X-Tenant: one}}}
      - {path: /t2/, pool: a, strip_prefix: true, request_headers: {set: {X-Tenant: two}}}
  - name: api
    hosts: [api.example.com]
    shields: [%s]
    shield_fallback: false
    routes:
      - {path: /, pool: b}
`, t.TempDir(), a, b, natsAddr, natsTokenEnv, shield.public, shield.public), "edge.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return startFleetNode(t, edgeCfg), shield
}

// Two routes of an edge to different pools may send their shield the same
// URL (strip_prefix, upstream_path, the query a route keeps), and two
// sites' pools the same path under their hosts. The edge names the pool
// to the shield (origin.PoolHeader); the shield keys each pool's object
// apart and fetches it from its own pool of that name. Before, the shield
// keyed and fetched by the URL alone: /b/x was answered pool a's /x (from
// the shield's cache, or from its one origin), one tenant's object served
// as another's.
func TestShieldKeysAndRoutesByPool(t *testing.T) {
	a, aSeen := poolOrigin(t, "A")
	b, _ := poolOrigin(t, "B")
	edge, shield := startPoolFleet(t, a.URL, b.URL)

	get := func(t *testing.T, host, path string, header ...string) string {
		t.Helper()
		resp, body := fetch(t, edge.public+path, append([]string{"Host", host}, header...)...)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s%s: %d %s", host, path, resp.StatusCode, body)
		}
		return body
	}
	for _, tt := range []struct {
		name       string
		host, path string // asked first
		want       string // its answer, without the version
		host2      string // then asked, through the same shield
		path2      string
		want2      string
	}{
		{"strip_prefix", "www.example.com", "/a/x", "A of /x", "www.example.com", "/b/x", "B of /x"},
		{"upstream_path", "www.example.com", "/ua/7", "A of /u/7", "www.example.com", "/ub/7", "B of /u/7"},
		{"query rules", "www.example.com", "/qa/y?v=1", "A of /y", "www.example.com", "/qb/y?w=2", "B of /y"},
		{"the default pool", "www.example.com", "/d/k", "A of /k", "www.example.com", "/b/k", "B of /k"},
		{"two sites", "www.example.com", "/same", "A of /same", "api.example.com", "/same", "B of /same"},
		{"request_headers the origin varies on", "www.example.com", "/t1/z", "A of /z for one", "www.example.com", "/t2/z", "A of /z for two"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			first := get(t, tt.host, tt.path)
			if got := dropVersion(first); got != tt.want {
				t.Fatalf("%s%s: %q, want %q", tt.host, tt.path, first, tt.want)
			}
			second := get(t, tt.host2, tt.path2)
			if got := dropVersion(second); got != tt.want2 {
				t.Fatalf("%s%s was answered %q, want %q (what another pool or route stored at the shield)", tt.host2, tt.path2, second, tt.want2)
			}
			// Asked again, the first is still what it was.
			if again := get(t, tt.host, tt.path); again != first {
				t.Errorf("%s%s again: %q, want %q", tt.host, tt.path, again, first)
			}
		})
	}
	if seen := aSeen.Load().(string); seen != "" {
		t.Errorf("the origin was sent %s: %q; a pool's servers are never told", origin.PoolHeader, seen)
	}

	t.Run("a client's field is not the edge's", func(t *testing.T) {
		body := get(t, "www.example.com", "/a/forged", origin.PoolHeader, "b")
		if got := dropVersion(body); got != "A of /forged" {
			t.Errorf("/a/forged with %s: b from the client: %q, want pool a's", origin.PoolHeader, body)
		}
	})

	for _, tt := range []struct{ name, path, purge, want string }{
		{"URL purge through the routes", "/b/p", `{"urls":["http://www.example.com/b/p"]}`, "B of /p"},
		{"prefix purge through the routes", "/ub/9", `{"prefixes":["http://www.example.com/ub/"]}`, "B of /u/9"},
		{"soft URL purge", "/b/s", `{"urls":["http://www.example.com/b/s"],"soft":true}`, "B of /s"},
		{"tag purge", "/b/t", `{"tags":["pool-B"]}`, "B of /t"},
		{"host purge", "/b/h", `{"hosts":["www.example.com"]}`, "B of /h"},
		{"purge of all", "/b/all", `{"all":true}`, "B of /all"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := get(t, "www.example.com", tt.path)
			waitUntil(t, func() bool { return edge.hit(t, tt.path) })
			answer := edge.purge(t, tt.purge)
			waitApplied(t, answer, []*fleetNode{shield, edge})
			after := get(t, "www.example.com", tt.path)
			if after == before || dropVersion(after) != tt.want {
				t.Errorf("after the purge %s: %q, before %q; want pool b's next version", tt.purge, after, before)
			}
		})
	}
}

// A client that is no trusted proxy of the shield cannot name a pool: the
// shield keys and fetches by its own configuration, and passes the field
// on to no one.
func TestShieldIgnoresUntrustedPoolName(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node; skipped with -short")
	}
	a, aSeen := poolOrigin(t, "A")
	b, _ := poolOrigin(t, "B")
	shield := startFleetNode(t, shieldConfig(t, fmt.Sprintf(`
server: {trusted_proxies: [10.0.0.0/8]}
upstream: {origin: %s}
pools:
  b: {servers: [{url: %s}]}
`, a.URL, b.URL)))
	_, forged := fetch(t, shield.public+"/x", origin.PoolHeader, "b")
	if got := dropVersion(forged); got != "A of /x" {
		t.Errorf("an untrusted client named pool b: %q, want the shield's own origin's", forged)
	}
	if seen := aSeen.Load().(string); seen != "" {
		t.Errorf("the origin was sent %s: %q", origin.PoolHeader, seen)
	}
	// What it fetched is the shield's own entry for /x.
	if _, plain := fetch(t, shield.public+"/x"); plain != forged {
		t.Errorf("/x without the field: %q, want the entry %q", plain, forged)
	}
}

// shieldConfig parses the YAML of a shield named "shield" on loopback
// ports with its data in a temporary directory, the rest being rest.
func shieldConfig(t *testing.T, rest string) *config.Config {
	t.Helper()
	cfg, err := config.Parse(fmt.Appendf(nil, "name: shield\nrole: shield\nlisten: 127.0.0.1:0\nadmin: 127.0.0.1:0\ndata: %s\n%s", t.TempDir(), rest), "shield.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// dropVersion removes " vN" from an origin's answer.
func dropVersion(body string) string {
	name, rest, ok := strings.Cut(body, " v")
	if !ok {
		return body
	}
	_, rest, _ = strings.Cut(rest, " ")
	return name + " " + rest
}
