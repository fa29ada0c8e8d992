package main

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"edged/edge"
	"edged/origin"
	"edged/purge"
	"edged/storage"
)

func TestStoreInvalidator(t *testing.T) {
	store, err := storage.Open(storage.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	put := func(key string, tags ...string) {
		store.Set(&storage.Entry{Key: key, Status: 200, Header: http.Header{}, Body: []byte(key),
			RequestTime: time.Now(), ResponseTime: time.Now(), Tags: tags})
	}
	reset := func() {
		for _, k := range []string{"http://a.example/x", "https://a.example/x", "http://a.example/x\x00gzip",
			"http://a.example/xy", "http://a.example/dir/1", "http://a.example:8080/p", "http://a.example.evil/p", "http://b.example/t",
			"http://a.example/key%0Aline", "http://a.example/key"} {
			put(k)
		}
		put("http://b.example/tagged", "release-1")
	}
	inv := storeInvalidator{store: store}
	for _, tt := range []struct {
		name string
		req  purge.Request
		gone []string
		kept []string
	}{
		{"url, both schemes and variants", purge.Request{URLs: []string{"HTTP://A.example:80/x"}},
			[]string{"http://a.example/x", "https://a.example/x", "http://a.example/x\x00gzip"}, []string{"http://a.example/xy"}},
		{"prefix", purge.Request{Prefixes: []string{"http://a.example/dir/"}},
			[]string{"http://a.example/dir/1"}, []string{"http://a.example/x"}},
		{"host", purge.Request{Hosts: []string{"a.example"}},
			[]string{"http://a.example/x", "http://a.example:8080/p"}, []string{"http://a.example.evil/p", "http://b.example/t"}},
		// A forward proxy, or a cache without sites, stores a path with
		// an encoded control character (an S3 key's "%0A"): its URL must
		// purge it (Check refused it, so it never could).
		{"url with an encoded control character", purge.Request{URLs: []string{"http://a.example/key%0aline"}},
			[]string{"http://a.example/key%0Aline"}, []string{"http://a.example/key"}},
		{"tag", purge.Request{Tags: []string{"release-1"}},
			[]string{"http://b.example/tagged"}, []string{"http://b.example/t"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reset()
			store.Flush()
			if err := inv.Check(tt.req); err != nil {
				t.Fatalf("Check refused the purge (the API's 400): %v", err)
			}
			if _, err := inv.Invalidate(context.Background(), tt.req, 7); err != nil {
				t.Fatal(err)
			}
			for _, k := range tt.gone {
				if _, _, err := store.Get(k); err == nil {
					t.Errorf("%q survived", k)
				}
			}
			for _, k := range tt.kept {
				if _, _, err := store.Get(k); err != nil {
					t.Errorf("%q was purged: %v", k, err)
				}
			}
			if seq, err := inv.Applied(); err != nil || seq != 7 {
				t.Errorf("Applied = %d, %v; want 7", seq, err)
			}
		})
	}
	// A URL that is no cache key is refused by Check (the API's 400) and
	// skipped by Invalidate, which applies the rest and records the
	// sequence: an error there would be retried forever and stop the bus.
	reset()
	store.Flush()
	bad := purge.Request{URLs: []string{"http://bad host/", "http://a.example/x?q=%zz", "http://a.example/x"}}
	if err := inv.Check(bad); err == nil || !strings.Contains(err.Error(), "urls[0]") || !strings.Contains(err.Error(), "urls[1]") {
		t.Errorf("Check = %v, want both malformed URLs named", err)
	}
	if _, err := inv.Invalidate(context.Background(), bad, 8); err != nil {
		t.Fatalf("Invalidate of a request with malformed URLs: %v", err)
	}
	if _, _, err := store.Get("http://a.example/x"); err == nil {
		t.Error("the good URL beside malformed ones was not purged")
	}
	if seq, err := inv.Applied(); err != nil || seq != 8 {
		t.Errorf("Applied = %d, %v; want 8", seq, err)
	}
	// A soft purge gives the objects its time (stale-while-revalidate and
	// stale-if-error count from it); one that stands in for missed purges
	// gives none, so nothing it marks is served stale.
	for _, standIn := range []bool{false, true} {
		reset()
		store.Flush()
		if _, err := inv.Invalidate(context.Background(), purge.Request{URLs: []string{"http://a.example/x"}, Soft: true, StandIn: standIn}, 9); err != nil {
			t.Fatal(err)
		}
		e, _, err := store.Get("http://a.example/x")
		if err != nil || !e.Stale || e.StaleAt.IsZero() != standIn {
			t.Errorf("stand-in %v: %+v, %v; want stale, with a time unless standing in", standIn, e, err)
		}
	}
}

// testRouter has one site whose routes fetch through a shield: one that
// ignores the query, and one whose upstream_path is longer than its path.
func testRouter(t testing.TB) *edge.Router {
	t.Helper()
	shielded, err := origin.New(origin.Options{Shields: []string{"http://127.0.0.1:2"}, Via: "edged"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(shielded.Close)
	long, err := edge.ParsePathPattern("/u/{id}")
	if err != nil {
		t.Fatal(err)
	}
	rt, err := edge.NewRouter([]*edge.Site{{Name: "www", Hosts: []string{"www.example.com"}, Routes: []*edge.Route{
		{PathPrefix: "/", Upstream: shielded},
		{PathPrefix: "/static/", Upstream: shielded, Cache: edge.RouteCache{IgnoreQuery: true}},
		{PathPrefix: "/u/", Pattern: long, UpstreamPath: "/" + strings.Repeat("p", 100) + "/{id}", Upstream: shielded},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// Expand adds every target, a URL over MaxItemLen as the prefix of it that
// fits (before, it was skipped without a word, and the shield kept its
// copy), and on a shield a warning that it knows no edge's routes.
func TestExpand(t *testing.T) {
	rt := testRouter(t)
	si := storeInvalidator{router: func() *edge.Router { return rt }}
	id := strings.Repeat("i", purge.MaxItemLen-40)
	own := "http://www.example.com/u/" + id
	more, warning := si.Expand(purge.Request{URLs: []string{own}, Tags: []string{"t"}})
	up := "http://www.example.com/" + strings.Repeat("p", 100) + "/" + id
	if warning != "" || len(more.URLs) != 0 || len(more.Prefixes) != 1 {
		t.Fatalf("Expand = %d URLs, %d prefixes, %q; want one prefix and no warning", len(more.URLs), len(more.Prefixes), warning)
	}
	if p := more.Prefixes[0]; len(p) > purge.MaxItemLen || !strings.HasPrefix(up, p) || len(p) < purge.MaxItemLen-2 {
		t.Errorf("prefix of %d bytes, want the longest of %s within %d bytes", len(p), up[:60], purge.MaxItemLen)
	}
	if err := (purge.Request{Prefixes: more.Prefixes}).Validate(); err != nil {
		t.Errorf("the prefix is no valid purge: %v", err)
	}

	si.shield = true
	if _, warning := si.Expand(purge.Request{URLs: []string{"http://www.example.com/a"}}); !strings.Contains(warning, "shield") {
		t.Errorf("a URL purge on a shield: warning %q", warning)
	}
	if _, warning := si.Expand(purge.Request{Tags: []string{"t"}}); warning != "" {
		t.Errorf("a tag purge on a shield: warning %q, want none: a tag is no URL to map", warning)
	}
}

// A prefix with a query reaches, on the node that applies it, the key its
// route stores the requests it covers under (edge.Router.PrefixPurgeTargets):
// /static/app.js?v= is /static/app.js on a route that ignores the query.
func TestInvalidateMapsPrefixes(t *testing.T) {
	store, err := storage.Open(storage.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rt := testRouter(t)
	for _, k := range []string{"https://www.example.com/static/app.js", "http://www.example.com/static/app.jsx"} {
		store.Set(&storage.Entry{Key: k, Status: 200, Header: http.Header{}, Body: []byte(k),
			RequestTime: time.Now(), ResponseTime: time.Now()})
	}
	store.Flush()
	si := storeInvalidator{store: store, router: func() *edge.Router { return rt }}
	if _, err := si.Invalidate(context.Background(), purge.Request{Prefixes: []string{"http://www.example.com/static/app.js?v="}}, 1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.Get("https://www.example.com/static/app.js"); err == nil {
		t.Error("the key the route stores /static/app.js?v=2 under survived")
	}
	if _, _, err := store.Get("http://www.example.com/static/app.jsx"); err != nil {
		t.Errorf("another path was purged: %v", err)
	}
}

// Whatever URL or prefix a caller purges, what Expand adds for it through
// the routes is valid purge items (so the bus leaves none out) and keys a
// node can purge.
func FuzzExpand(f *testing.F) {
	for _, s := range []string{"http://www.example.com/static/app.js?v=2", "http://www.example.com/u/x%41y",
		"https://www.example.com:8443/u/" + strings.Repeat("%2F", 2700), "http://www.example.com/", "http://www.example.com/s?"} {
		f.Add(s)
	}
	rt := testRouter(f)
	si := storeInvalidator{router: func() *edge.Router { return rt }}
	f.Fuzz(func(t *testing.T, raw string) {
		r := purge.Request{URLs: []string{raw}, Prefixes: []string{raw}}
		if r.Validate() != nil || si.Check(r) != nil {
			return
		}
		own, err := targetOf(raw)
		if err != nil {
			return
		}
		// What the routes add stays on the caller's host: a prefix is
		// never one of the host's name alone ("http://a.example" would
		// also reach "http://a.example.org/...").
		k := own.Key()
		site := k[:strings.Index(k, "://")+3]
		site += strings.SplitN(k[len(site):], "/", 2)[0] + "/"
		more, _ := si.Expand(r)
		for _, s := range slices.Concat(more.URLs, more.Prefixes) {
			if err := (purge.Request{URLs: []string{s}}).Validate(); err != nil {
				t.Errorf("Expand(%q) added %q: %v", raw, s, err)
			}
			if _, err := targetOf(s); err != nil {
				t.Errorf("Expand(%q) added %q, no key: %v", raw, s, err)
			}
			if !strings.HasPrefix(s, site) {
				t.Errorf("Expand(%q) added %q, outside %s", raw, s, site)
			}
		}
	})
}
