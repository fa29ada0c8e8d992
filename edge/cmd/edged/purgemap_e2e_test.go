package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"edged/purge"
)

// What a purge names reaches every copy a request it covers is served
// from, on the edge and on its shield, whatever its size and kind: past
// purge.MaxItems added URLs, by prefix through a strip_prefix route, by a
// prefix with a query through a route that ignores the query. A caller's
// URL that is no cache key is a 400 naming it with nothing published, and
// a purge sent to the shield says what it cannot reach. Each case but the
// 400 fails on the old code: the purged object was served again (the
// first three) or the answer said nothing (the last).
func TestPurgeMapsThroughRoutes(t *testing.T) {
	edge, shield := startRoutedFleet(t,
		"{path: /}",
		"{path: /static/, cache: {ignore_query: true}}",
		"{path: /list/, strip_prefix: true, cache: {keep_query: [page]}}",
		"{path: /v1/, strip_prefix: true}")

	get := func(t *testing.T, path string) string {
		t.Helper()
		resp, b := fetch(t, edge.public+path, "Host", "www.example.com")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return b
	}
	// cached fetches path until the edge holds it, and returns its body.
	cached := func(t *testing.T, path string) string {
		t.Helper()
		b := get(t, path)
		waitUntil(t, func() bool { return edge.hit(t, path) })
		return b
	}
	purged := func(t *testing.T, path, before string) {
		t.Helper()
		if after := get(t, path); after == before {
			t.Errorf("after the purge, %s was served the purged object %q", path, after)
		}
	}
	kept := func(t *testing.T, path, before string) {
		t.Helper()
		if after := get(t, path); after != before {
			t.Errorf("%s, which the purge does not cover, was fetched again: %q, was %q", path, after, before)
		}
	}
	noWarning := func(t *testing.T, answer string) {
		t.Helper()
		if strings.Contains(answer, `"warning"`) {
			t.Errorf("answer %s: a warning", answer)
		}
	}

	t.Run("URLs past MaxItems", func(t *testing.T) {
		// Each URL adds two: the key the route keeps its query under, and
		// what it sends the shield; the last URL's came past MaxItems.
		last := fmt.Sprintf("/list/i%d?page=1", purge.MaxItems-1)
		before := cached(t, last+"&utm=a")
		urls := make([]string, purge.MaxItems)
		for i := range urls {
			urls[i] = fmt.Sprintf(`"http://www.example.com/list/i%d?utm=b&page=1"`, i)
		}
		answer := edge.purge(t, `{"urls":[`+strings.Join(urls, ",")+`]}`)
		waitApplied(t, answer, []*fleetNode{shield, edge})
		noWarning(t, answer)
		purged(t, last+"&utm=a", before)
	})
	t.Run("prefix through strip_prefix", func(t *testing.T) {
		img, other := cached(t, "/v1/img/a.png"), cached(t, "/v1/other/b")
		answer := edge.purge(t, `{"prefixes":["http://www.example.com/v1/img/"]}`)
		waitApplied(t, answer, []*fleetNode{shield, edge})
		noWarning(t, answer)
		purged(t, "/v1/img/a.png", img)
		kept(t, "/v1/other/b", other) // /img/ on the shield, not its whole host
	})
	t.Run("prefix with a query through ignore_query", func(t *testing.T) {
		app, css := cached(t, "/static/app.js?v=1"), cached(t, "/static/app.css?v=1")
		answer := edge.purge(t, `{"prefixes":["http://www.example.com/static/app.js?v="]}`)
		waitApplied(t, answer, []*fleetNode{shield, edge})
		purged(t, "/static/app.js?v=1", app)
		kept(t, "/static/app.css?v=1", css)
	})
	t.Run("a caller's URL that is no cache key", func(t *testing.T) {
		doc := cached(t, "/v1/doc")
		seq, err := edge.n.store.AppliedSeq()
		if err != nil {
			t.Fatal(err)
		}
		status, answer := postPurge(t, edge, `{"urls":["http://www.example.com/v1/doc","http://www.example.com/x?q=%zz"]}`)
		if status != http.StatusBadRequest || !strings.Contains(answer, `urls[1] \"http://www.example.com/x?q=%zz\"`) {
			t.Errorf("answer %d %s, want 400 naming urls[1]", status, answer)
		}
		// Nothing published: the next purge takes the next sequence.
		answer = edge.purge(t, `{"tags":["none"]}`)
		var res struct{ Seq uint64 }
		if err := json.Unmarshal([]byte(answer), &res); err != nil || res.Seq != seq+1 {
			t.Errorf("the next purge %s (%v), want seq %d: the refused one was published", answer, err, seq+1)
		}
		kept(t, "/v1/doc", doc)
	})
	t.Run("sent to the shield", func(t *testing.T) {
		answer := shield.purge(t, `{"urls":["http://www.example.com/v1/doc"]}`)
		var res struct{ Warning string }
		if err := json.Unmarshal([]byte(answer), &res); err != nil || !strings.Contains(res.Warning, "shield") ||
			!strings.Contains(res.Warning, "send purges to an edge") {
			t.Errorf("answer %s (%v): no warning that the shield knows no edge's routes", answer, err)
		}
		noWarning(t, shield.purge(t, `{"tags":["none"]}`)) // nothing to map
	})
}
