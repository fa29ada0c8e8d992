package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"edged/edge/config"
)

// A purge of a URL reaches the object a request for that URL is served,
// on the edge and on its shield, whatever the route does to the URL: a
// route that keys a query it ignores or keeps only in part
// (cache.ignore_query, cache.keep_query: "/static/app.js?v=2" is served
// what "/static/app.js" stored), and one that sends its shield another
// path (strip_prefix: the shield stores "/v1/doc" as "/doc"). Before, the
// first two answered 200 with a count of 0 and the object stayed a hit on
// both tiers; the third purged the edge, whose next miss fetched the
// shield's pre-purge copy again and stored it: each purge silently missed
// the object it named.
func TestPurgeReachesWhatRoutesStore(t *testing.T) {
	edge, shield := startRoutedFleet(t,
		"{path: /}",
		"{path: /static/, cache: {ignore_query: true}}",
		"{path: /list, cache: {keep_query: [page, sort]}}",
		"{path: /v1/, strip_prefix: true}")

	body := func(t *testing.T, path string) (string, string) {
		t.Helper()
		resp, b := fetch(t, edge.public+path, "Host", "www.example.com")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return b, resp.Header.Get("Cache-Status")
	}
	for _, tt := range []struct {
		name      string
		get       string // what a client asks for, before and after
		purgeURL  string // what the purge names: a URL served the same object
		wantFetch string // what the origin is asked for
	}{
		{"ignore_query", "/static/app.js?v=1", "http://www.example.com/static/app.js?v=2", "/static/app.js"},
		{"keep_query", "/list?sort=a&page=2&utm=mail", "http://www.example.com/list?utm=ads&page=2&sort=a", "/list?page=2&sort=a"},
		{"strip_prefix through the shield", "/v1/doc", "http://www.example.com/v1/doc", "/doc"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := body(t, tt.get)
			if !strings.HasSuffix(before, " of "+tt.wantFetch) {
				t.Fatalf("origin was asked %q, want %q", before, tt.wantFetch)
			}
			waitUntil(t, func() bool { return edge.hit(t, tt.get) })

			answer := edge.purge(t, `{"urls":["`+tt.purgeURL+`"]}`)
			waitApplied(t, answer, []*fleetNode{shield, edge})
			if strings.Contains(answer, `"count":0`) {
				t.Errorf("purge of %s answered %s: it found nothing on the node that took it", tt.purgeURL, answer)
			}
			after, cs := body(t, tt.get)
			if after == before {
				t.Errorf("after the purge of %s, %s was served the purged object %q (Cache-Status %q)", tt.purgeURL, tt.get, after, cs)
			}
		})
	}
}

// startRoutedFleet starts a shield and an edge on one purge bus, the
// edge's site www.example.com with routes (YAML flow mappings) through the
// shield, before an origin that answers "version N of URI" (N counting
// its answers), fresh for 10 minutes; it skips the test with -short.
func startRoutedFleet(t *testing.T, routes ...string) (edge, shield *fleetNode) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs two nodes and a NATS server; skipped with -short")
	}
	var version atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		fmt.Fprintf(w, "version %d of %s", version.Add(1), r.URL.RequestURI())
	}))
	t.Cleanup(origin.Close)

	shield, natsAddr := startBusShield(t, origin.URL)
	edgeCfg, err := config.Parse(fmt.Appendf(nil, `
name: edge
listen: 127.0.0.1:0
admin: 127.0.0.1:0
data: %s
purge:
  nats: {url: "nats://%s", token_env: %s}
sites:
  - name: www
    hosts: [www.example.com]
    shields: [%s]
    shield_fallback: false
    routes:
      - %s
`, t.TempDir(), natsAddr, natsTokenEnv, shield.public, strings.Join(routes, "\n      - ")), "edged.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return startFleetNode(t, edgeCfg), shield
}
