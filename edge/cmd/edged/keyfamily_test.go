package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"edged/edge"
	"edged/edge/auth"
	"edged/edge/compress"
	"edged/edge/policy"
	"edged/origin"
	"edged/purge"
	"edged/storage"
)

// TestPurgeLeavesNoDerivedKey states the promise of the key grammar
// (policy.Key): a purge of a URL leaves no copy behind, whatever the edge
// derived from its key. For every derivation the edge makes, a real
// Handler on a real store (a bbolt file in t.TempDir) fills from a real
// loopback origin; the test finds every key of the URL in the cache file,
// warms them into the memory tier, purges the URL (through the binary's
// purge adapter, and by an unsafe request, RFC 9111 §4.4), and then proves that no key of the URL is left in either
// tier and that the next request of each kind is a miss.
func TestPurgeLeavesNoDerivedKey(t *testing.T) {
	body := strings.Repeat("a body worth compressing; ", 200)
	var version atomic.Int64 // of what the origin serves, to tell copies made before a purge
	originSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=600")
		w.Header().Set("X-Version", strconv.FormatInt(version.Load(), 10))
		w.Header().Set("Content-Type", "text/plain")
		if strings.Contains(r.URL.Path, "vary") {
			w.Header().Set("Vary", "Accept-Language")
		}
		if strings.HasPrefix(r.URL.Path, "/slice/") {
			// Four slices of edge.MinSlice, answered by range.
			w.Header().Set("Etag", `"v`+strconv.FormatInt(version.Load(), 10)+`"`)
			http.ServeContent(w, r, "", time.Time{}, strings.NewReader(strings.Repeat(body, 40)))
			return
		}
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(originSrv.Close)
	verifier, err := auth.NewVerifier(auth.Options{APIKeys: &auth.APIKeyOptions{Keys: []string{"key-a", "key-b"}}})
	if err != nil {
		t.Fatal(err)
	}
	up := func() *origin.Client {
		c, err := origin.New(origin.Options{Origin: originSrv.URL, Via: "edged"})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	canary := &edge.RouteMatch{Headers: map[string]string{"X-Canary": "1"}}
	beta := &edge.RouteMatch{Cookies: map[string]string{"beta": "1"}}
	splits := func() []edge.Split { return []edge.Split{{Name: "canary", Upstream: up(), Weight: 1}} }
	site := func() *edge.Site {
		return &edge.Site{Name: "s", Hosts: []string{"s.example"}, Routes: []*edge.Route{
			{PathPrefix: "/plain/", Upstream: up()},
			{PathPrefix: "/split/", Upstream: up(), Splits: splits(), StickyCookie: "edged_split"},
			{PathPrefix: "/auth/", Upstream: up(), Auth: verifier, AuthKey: []string{"sub"}},
			{PathPrefix: "/identity/", Upstream: up(), Auth: verifier},
			{PathPrefix: "/combined/", Upstream: up(), Splits: splits(), StickyCookie: "edged_split", Auth: verifier, AuthKey: []string{"sub"}},
			{PathPrefix: "/match/", Upstream: up()},
			{PathPrefix: "/match/", Upstream: up(), Match: canary},
			{PathPrefix: "/match/", Upstream: up(), Match: beta, Splits: splits(), StickyCookie: "edged_split"},
			{PathPrefix: "/slice/", Upstream: up(), Cache: edge.RouteCache{Slice: edge.MinSlice}},
		}}
	}
	routeID := func(prefix string, m *edge.RouteMatch) string { return policy.RouteID(m.Canonical(prefix)) }
	lang := []string{"Accept-Language"}
	en, de := http.Header{"Accept-Language": {"en"}}, http.Header{"Accept-Language": {"de"}}
	userA, userB := auth.APIKeyID("key-a"), auth.APIKeyID("key-b") // an API key is its own partition (edge/guard.go partition)
	tests := []struct {
		name, path string
		requests   [][]string // header fields of each request
		// want are keys the edge must have stored: proof that the case
		// exercises its derivation before it is purged.
		want func(p policy.Key) []policy.Key
	}{
		{"vary variant", "/plain/vary", [][]string{{"Accept-Language", "en"}, {"Accept-Language", "de"}},
			func(p policy.Key) []policy.Key { return []policy.Key{p, p.Variant(lang, en), p.Variant(lang, de)} }},
		{"stored encoding", "/plain/text", [][]string{{"Accept-Encoding", "gzip"}, {"Accept-Encoding", "br"}, {}},
			func(p policy.Key) []policy.Key { return []policy.Key{p, p.Encoding("gzip"), p.Encoding("br")} }},
		{"auth partition", "/auth/doc", [][]string{{"X-Api-Key", "key-a"}, {"X-Api-Key", "key-b"}},
			func(p policy.Key) []policy.Key { return []policy.Key{p.AuthPartition(userA), p.AuthPartition(userB)} }},
		{"identity", "/identity/doc", [][]string{{"X-Api-Key", "key-a"}, {"X-Api-Key", "key-b"}},
			func(p policy.Key) []policy.Key { return []policy.Key{p} }},
		{"route split", "/split/page", [][]string{{"Cookie", "edged_split=primary"}, {"Cookie", "edged_split=canary"}},
			func(p policy.Key) []policy.Key { return []policy.Key{p, p.Split("canary")} }},
		{"route match", "/match/vary", [][]string{{}, {"X-Canary", "1"}, {"Cookie", "beta=1; edged_split=canary", "Accept-Language", "de"}},
			func(p policy.Key) []policy.Key {
				b := p.Route(routeID("/match/", beta)).Split("canary")
				return []policy.Key{p, p.Route(routeID("/match/", canary)), b, b.Variant(lang, de)}
			}},
		{"slices", "/slice/movie", [][]string{{"Range", "bytes=0-9"}, {"Range", "bytes=70000-70009"}, {}},
			func(p policy.Key) []policy.Key { return []policy.Key{p.Slice(0), p.Slice(1), p.Slice(2), p.Slice(3)} }},
		{"combined", "/combined/vary", [][]string{
			{"Cookie", "edged_split=canary", "X-Api-Key", "key-a", "Accept-Language", "en", "Accept-Encoding", "gzip"},
			{"Cookie", "edged_split=primary", "X-Api-Key", "key-b", "Accept-Language", "de", "Accept-Encoding", "br"},
		}, func(p policy.Key) []policy.Key {
			canaryA, primaryB := p.Split("canary").AuthPartition(userA), p.AuthPartition(userB)
			return []policy.Key{canaryA, canaryA.Variant(lang, en), canaryA.Variant(lang, en).Encoding("gzip"),
				primaryB, primaryB.Variant(lang, de), primaryB.Variant(lang, de).Encoding("br")}
		}},
	}
	purges := []struct {
		name  string
		purge func(t *testing.T, n *testNode, url, path string, fields []string)
	}{
		{"purge", func(t *testing.T, n *testNode, url, _ string, _ []string) {
			if _, err := (storeInvalidator{store: n.store}).Invalidate(context.Background(), purge.Request{URLs: []string{url}}, 1); err != nil {
				t.Fatal(err)
			}
		}},
		{"unsafe method", func(t *testing.T, n *testNode, _, path string, fields []string) {
			n.do(t, http.MethodPost, path, fields...) // answered once the origin's 200 has invalidated the URL
		}},
	}
	for _, tt := range tests {
		for _, how := range purges {
			t.Run(tt.name+"/"+how.name, func(t *testing.T) {
				dir := t.TempDir()
				url := "http://s.example" + tt.path
				primary := policy.Key(url)
				// send sends every request; when hits, each must be a hit.
				send := func(n *testNode, hits bool) {
					t.Helper()
					for _, fields := range tt.requests {
						if status, _ := n.get(t, tt.path, fields...); hits && !strings.Contains(status, "; hit") {
							t.Errorf("%q: Cache-Status %q, want a hit", fields, status)
						}
					}
				}

				// Fill, until every request is a hit (a hit proves the fill
				// was stored), then close so that the file holds everything.
				n := openNode(t, dir, site())
				send(n, false)
				send(n, false) // a compressed representation is made from a stored response
				send(n, true)
				n.close()
				before := keysOf(t, dir, url)
				for _, k := range tt.want(primary) {
					if !slices.Contains(before, string(k)) {
						t.Fatalf("the edge did not store %q; the file holds %q", k, before)
					}
				}

				// Reopen: hits from disk promote every key to memory.
				n = openNode(t, dir, site())
				send(n, true)
				n.store.Flush()
				for _, k := range entries(before) {
					if _, tier, err := n.store.Get(k); err != nil || tier != storage.TierMemory {
						t.Errorf("before the purge %q: tier %v, %v; want it in memory", k, tier, err)
					}
				}

				how.purge(t, n, url, tt.path, tt.requests[0])
				for _, k := range entries(before) {
					// Get asks memory, the pending writes, then disk.
					if _, tier, err := n.store.Get(k); !errors.Is(err, storage.ErrNotFound) {
						t.Errorf("after the purge %q is still found (tier %v, err %v)", k, tier, err)
					}
				}
				n.close()
				if left := keysOf(t, dir, url); len(left) > 0 {
					t.Errorf("after the purge the file still holds %q", left)
				}

				// The next request is a miss, and no request is served a copy
				// made before the purge.
				version.Add(1)
				n = openNode(t, dir, site())
				defer n.close()
				for i, fields := range tt.requests {
					status, v := n.get(t, tt.path, fields...)
					if i == 0 && (!strings.Contains(status, "fwd=") || strings.Contains(status, "hit")) {
						t.Errorf("%q after the purge: Cache-Status %q, want a miss", fields, status)
					}
					if v != strconv.FormatInt(version.Load(), 10) {
						t.Errorf("%q after the purge: served version %s, made before the purge", fields, v)
					}
				}
			})
		}
	}
}

// testNode is an edge Handler with its own store, served on loopback.
type testNode struct {
	srv     *httptest.Server
	handler *edge.Handler
	store   *storage.Store
	client  *http.Client
}

func openNode(t *testing.T, dir string, site *edge.Site) *testNode {
	t.Helper()
	store, err := storage.Open(storage.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := edge.NewRouter([]*edge.Site{site})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := compress.NewEncoder(compress.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := edge.New(edge.Options{Name: "edged", Store: store, Router: rt, Compression: enc})
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{srv: httptest.NewServer(h), handler: h, store: store,
		client: &http.Client{Transport: &http.Transport{DisableCompression: true}}}
	t.Cleanup(n.close)
	return n
}

// get requests path of s.example with the given header fields and returns
// the edge's Cache-Status and the origin's X-Version.
func (n *testNode) get(t *testing.T, path string, fields ...string) (cacheStatus, version string) {
	t.Helper()
	return n.do(t, http.MethodGet, path, fields...)
}

// do sends a request for path of s.example, which must be answered 200
// (206 to a Range).
func (n *testNode) do(t *testing.T, method, path string, fields ...string) (cacheStatus, version string) {
	t.Helper()
	req, err := http.NewRequest(method, n.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "s.example"
	for i := 0; i+1 < len(fields); i += 2 {
		req.Header.Add(fields[i], fields[i+1])
	}
	resp, err := n.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK && (resp.StatusCode != http.StatusPartialContent || req.Header.Get("Range") == "") {
		t.Fatalf("%s %s %q: status %d", method, path, fields, resp.StatusCode)
	}
	return resp.Header.Get("Cache-Status"), resp.Header.Get("X-Version")
}

// entries are the keys among keys that name cache entries (other rows, such
// as the order of recency, lead with other bytes).
func entries(keys []string) []string {
	return slices.DeleteFunc(slices.Clone(keys), func(k string) bool {
		return !strings.HasPrefix(k, "http://") && !strings.HasPrefix(k, "https://")
	})
}

// close stops the node; it is safe to call twice.
func (n *testNode) close() {
	n.srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = n.handler.Close(ctx) // the store closes next either way
	_ = n.store.Close()
	n.client.CloseIdleConnections()
}

// keysOf returns every key in the closed cache file under dir, in any
// bucket, that holds url without its scheme (so both schemes' keys, their
// derivations and the index rows that name them count).
func keysOf(t *testing.T, dir, url string) []string {
	t.Helper()
	needle := []byte(url[strings.Index(url, "://"):])
	db, err := bolt.Open(filepath.Join(dir, storage.FileName), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var keys []string
	var walk func(b *bolt.Bucket) error
	walk = func(b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			if bytes.Contains(k, needle) {
				keys = append(keys, string(k))
			}
			if v == nil { // a nested bucket
				return walk(b.Bucket(k))
			}
			return nil
		})
	}
	if err := db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(_ []byte, b *bolt.Bucket) error { return walk(b) })
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}
