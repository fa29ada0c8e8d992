package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"edged/edge/config"
	"edged/edge/policy"
	"edged/storage"
)

// inspect asks a node's /inspect about target with the given token.
func (f *fleetNode) inspect(t testing.TB, target, token string) (int, inspectAnswer, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.admin+"/inspect?url="+url.QueryEscape(target), nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var ans inspectAnswer
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &ans); err != nil {
			t.Fatalf("/inspect: %v: %s", err, body)
		}
	}
	return resp.StatusCode, ans, string(body)
}

// TestInspect: what a node holds for a URL, through the real admin
// listener: the Vary index and each variant, with tier, TTL and tags; the
// purge token is required; a purge empties the answer.
func TestInspect(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Vary", "Accept-Language")
		w.Header().Set("Surrogate-Key", "release-7 product-1")
		fmt.Fprintf(w, "body of %s in %s", r.URL.Path, r.Header.Get("Accept-Language"))
	}))
	t.Cleanup(origin.Close)
	cfg := nodeConfig(t, "edge", t.TempDir())
	cfg.Upstream.Origin = origin.URL
	n := startFleetNode(t, cfg)
	for _, lang := range []string{"en", "fr"} {
		fetch(t, n.public+"/a?x=1", "Host", "www.example.com", "Accept-Language", lang)
	}
	const target = "http://www.example.com/a?x=1"

	if code, _, body := n.inspect(t, target, ""); code != http.StatusUnauthorized {
		t.Errorf("without the token: %d %s", code, body)
	}
	if code, _, body := n.inspect(t, target, "wrong"); code != http.StatusUnauthorized {
		t.Errorf("with a wrong token: %d %s", code, body)
	}
	if code, _, body := n.inspect(t, "/a", purgeToken); code != http.StatusBadRequest || !strings.Contains(body, "absolute") {
		t.Errorf("relative url: %d %s", code, body)
	}

	// The writes to disk are asynchronous; the memory tier answers at once.
	code, ans, body := n.inspect(t, target, purgeToken)
	if code != http.StatusOK {
		t.Fatalf("/inspect: %d %s", code, body)
	}
	kinds := map[string]int{}
	for _, e := range ans.Entries {
		kinds[e.Kind]++
		if !strings.HasPrefix(e.Key, target) || e.Tier == "" || e.Status != 200 {
			t.Errorf("entry %+v", e)
		}
		// The index has no freshness of its own: no TTL, rather than one
		// that made it look stale from its first second.
		if e.Kind == "vary-index" && e.TTL != nil {
			t.Errorf("vary-index ttl %v, want none", *e.TTL)
		}
		if e.Kind == "variant" {
			if e.TTL == nil || *e.TTL < 500 || *e.TTL > 600 || e.Age < 0 || e.Age > 100 || e.Stale || e.BodyBytes == 0 {
				t.Errorf("variant age %v ttl %v stale %v body %d", e.Age, e.TTL, e.Stale, e.BodyBytes)
			}
			if strings.Join(e.Tags, " ") != "release-7 product-1" {
				t.Errorf("variant tags %q", e.Tags)
			}
		}
	}
	if kinds["vary-index"] != 1 || kinds["variant"] != 2 {
		t.Errorf("kinds %v, want one vary-index and two variants:\n%s", kinds, body)
	}

	n.purge(t, `{"urls":["`+target+`"]}`)
	if _, ans, body := n.inspect(t, target, purgeToken); len(ans.Entries) != 0 {
		t.Errorf("after a purge: %s", body)
	}
}

// TestInspectPerUserMark: /inspect shows which entries were stored for one
// user's request (storage.Entry.MustRevalidate), the mark that keeps them
// from ever being served stale.
func TestInspectPerUserMark(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		fmt.Fprintf(w, "page %s", r.URL.Path)
	}))
	t.Cleanup(origin.Close)
	cfg := nodeConfig(t, "edge", t.TempDir())
	cfg.Upstream.Origin = origin.URL
	n := startFleetNode(t, cfg)
	fetch(t, n.public+"/account", "Host", "www.example.com", "Cookie", "session=alice")
	fetch(t, n.public+"/public", "Host", "www.example.com")
	for path, want := range map[string]bool{"/account": true, "/public": false} {
		code, ans, body := n.inspect(t, "http://www.example.com"+path, purgeToken)
		if code != http.StatusOK || len(ans.Entries) != 1 {
			t.Fatalf("%s: %d %s", path, code, body)
		}
		if got := ans.Entries[0].PerUser; got != want {
			t.Errorf("%s: per_user %v, want %v: %s", path, got, want, body)
		}
		if strings.Contains(body, "per_user") != want {
			t.Errorf("%s: per_user shown only when set: %s", path, body)
		}
	}
}

// TestKeyKind: each derivation of a stored key is named by the key
// grammar's own parser.
func TestKeyKind(t *testing.T) {
	k := policy.Key("http://h/p")
	for _, tt := range []struct {
		key  policy.Key
		vary []string
		want string
	}{
		{k, nil, "object"},
		{k, []string{"Accept-Language"}, "vary-index"},
		{k.Variant([]string{"Accept-Language"}, http.Header{"Accept-Language": {"en"}}), nil, "variant"},
		{k.Encoding("br"), nil, "encoding"},
		{k.Split("canary"), nil, "split"},
		{k.Route(policy.RouteID("x")), nil, "route"},
		{k.AuthPartition(`sub="x";`), nil, "auth-partition"},
		{k.Slice(3), nil, "slice"},
		{k.Split("canary").Slice(0), nil, "slice"},
	} {
		if got := keyKind(string(k), &storage.Entry{Key: string(tt.key), Vary: tt.vary}); got != tt.want {
			t.Errorf("keyKind(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

// TestInspectFollowsRouteQueryRules: /inspect looks a URL up under the key
// its route stores it (cache.ignore_query, cache.keep_query), as a request
// for it is served. Before, "/static/app.js?v=2" on a route that ignores
// the query showed nothing while it was served from the cache.
func TestInspectFollowsRouteQueryRules(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		fmt.Fprintf(w, "body of %s", r.URL.RequestURI())
	}))
	t.Cleanup(origin.Close)
	cfg, err := config.Parse(fmt.Appendf(nil, `
name: edge
listen: 127.0.0.1:0
admin: 127.0.0.1:0
data: %s
upstream: {origin: %s}
sites:
  - name: www
    hosts: [www.example.com]
    routes:
      - {path: /}
      - {path: /static/, cache: {ignore_query: true}}
      - {path: /list, cache: {keep_query: [page]}}
`, t.TempDir(), origin.URL), "edged.yaml")
	if err != nil {
		t.Fatal(err)
	}
	n := startFleetNode(t, cfg)
	for _, tt := range []struct {
		get, inspect, key string
	}{
		{"/static/app.js?v=1", "http://www.example.com/static/app.js?v=2", "http://www.example.com/static/app.js"},
		{"/list?page=2&utm=mail", "http://www.example.com/list?utm=ads&page=2", "http://www.example.com/list?page=2"},
	} {
		fetch(t, n.public+tt.get, "Host", "www.example.com")
		waitUntil(t, func() bool { return n.hit(t, tt.get) })
		code, ans, body := n.inspect(t, tt.inspect, purgeToken)
		if code != http.StatusOK {
			t.Fatalf("/inspect %s: %d %s", tt.inspect, code, body)
		}
		if len(ans.Entries) != 1 || ans.Entries[0].Key != tt.key || ans.Entries[0].Kind != "object" {
			t.Errorf("/inspect %s: %s; want the object stored under %s, which a request for it is served", tt.inspect, body, tt.key)
		}
	}
}
