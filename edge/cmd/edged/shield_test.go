package main

// The shield tier in process (issue 4): three shields in front of one
// origin, two edges that list the three shields. Real HTTP on loopback,
// real stores in temporary directories; no binary, to stay fast.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"edged/edge"
	"edged/edge/policy"
	"edged/origin"
	"edged/storage"
)

// cacheNode is an edge.Handler on a loopback server with its own store.
type cacheNode struct {
	srv *httptest.Server
	mu  sync.Mutex      // guards got
	got map[string]bool // paths this node was asked for
}

func newCacheNode(t testing.TB, name string, opts origin.Options, shield bool) *cacheNode {
	t.Helper()
	st, err := storage.Open(storage.Options{Dir: t.TempDir(), MemoryBytes: 16 << 20, DiskBytes: 256 << 20})
	if err != nil {
		t.Fatal(err)
	}
	opts.Via = name
	up, err := origin.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h, err := edge.New(edge.Options{Name: name, Store: st, Upstream: up, Policy: policy.Options{Shield: shield}})
	if err != nil {
		t.Fatal(err)
	}
	n := &cacheNode{got: make(map[string]bool)}
	n.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.mu.Lock()
		n.got[r.URL.Path] = true
		n.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		n.srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Error(err)
		}
		up.Close()
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	return n
}

func (n *cacheNode) asked(path string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.got[path]
}

// TestShieldsFetchEachKeyOnce: 1000 keys through two edges cost exactly
// 1000 origin fetches; after one shield stops, only the keys whose
// rendezvous order put it first move, each still fetched once.
func TestShieldsFetchEachKeyOnce(t *testing.T) {
	const host, keys = "www.example.test", 1000
	var fetches atomic.Int64
	var mu sync.Mutex
	perPath := make(map[string]int)
	orig := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		mu.Lock()
		perPath[r.URL.Path]++
		mu.Unlock()
		w.Header().Set("Cache-Control", "public, max-age=600")
		io.WriteString(w, r.URL.Path)
	}))
	t.Cleanup(orig.Close)

	var shields []*cacheNode
	var urls []string
	for i := range 3 {
		s := newCacheNode(t, fmt.Sprintf("shield%d", i), origin.Options{Origin: orig.URL}, true)
		shields, urls = append(shields, s), append(urls, s.srv.URL)
	}
	edges := []*cacheNode{
		newCacheNode(t, "edge1", origin.Options{Shields: urls}, false),
		newCacheNode(t, "edge2", origin.Options{Shields: urls}, false),
	}
	// The order shields are tried in for a key, as every edge computes it.
	order, err := origin.New(origin.Options{Shields: urls, Via: "probe"})
	if err != nil {
		t.Fatal(err)
	}
	defer order.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer client.CloseIdleConnections()

	get := func(edgeNode *cacheNode, path string) {
		req, _ := http.NewRequest("GET", edgeNode.srv.URL+path, nil)
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != path {
			t.Fatalf("GET %s: %d %q", path, resp.StatusCode, body)
		}
	}
	// run requests every key through edge 1 then edge 2, 8 keys at a time.
	run := func(round string) {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		for i := range keys {
			path := fmt.Sprintf("/%s/%d", round, i)
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				get(edges[0], path)
				get(edges[1], path)
			})
		}
		wg.Wait()
	}
	// home returns the shield index that should serve path: the first in the
	// key's order that is alive.
	home := func(path string, alive func(int) bool) int {
		for _, u := range order.ShieldOrder("http://" + host + path) {
			for i, s := range urls {
				if s == u && alive(i) {
					return i
				}
			}
		}
		t.Fatalf("no live shield for %s", path)
		return -1
	}
	// checkShares checks that each key went to its home shield and no other.
	checkShares := func(round string, alive func(int) bool) []int {
		shares := make([]int, len(shields))
		for i := range keys {
			path := fmt.Sprintf("/%s/%d", round, i)
			want := home(path, alive)
			shares[want]++
			for j, s := range shields {
				if alive(j) && s.asked(path) != (j == want) {
					t.Errorf("%s: shield %d asked=%v, want home shield %d", path, j, s.asked(path), want)
				}
			}
		}
		return shares
	}
	all := func(int) bool { return true }

	run("a")
	if got := fetches.Load(); got != keys {
		t.Fatalf("origin fetches = %d, want %d (one per key)", got, keys)
	}
	before := checkShares("a", all)
	t.Logf("shares with 3 shields: %v", before)

	// Stop shield 0: connections to it are refused from now on.
	const dead = 0
	shields[dead].srv.Close()
	alive := func(i int) bool { return i != dead }
	run("b")
	if got := fetches.Load(); got != 2*keys {
		t.Errorf("origin fetches = %d, want %d (each new key once)", got, 2*keys)
	}
	mu.Lock()
	for path, n := range perPath {
		if n != 1 {
			t.Errorf("origin fetched %s %d times", path, n)
		}
	}
	mu.Unlock()
	after := checkShares("b", alive)
	// The live shields keep every key they own with three shields (checked
	// on what they were asked, above); they gain only the dead shield's
	// keys, each going to its second choice.
	owned := make([]int, len(shields))
	gained := make([]int, len(shields))
	moved := 0
	for i := range keys {
		path := fmt.Sprintf("/b/%d", i)
		if first := home(path, all); first != dead {
			owned[first]++
			continue
		}
		moved++
		gained[home(path, alive)]++
	}
	for j := range shields {
		if j != dead && after[j] != owned[j]+gained[j] {
			t.Errorf("shield %d serves %d keys, want its own %d plus %d moved", j, after[j], owned[j], gained[j])
		}
	}
	if moved == 0 || moved == keys {
		t.Errorf("moved %d of %d keys: the hash does not spread keys", moved, keys)
	}
	t.Logf("shares with shield %d down: %v (%d keys moved)", dead, after, moved)
}
