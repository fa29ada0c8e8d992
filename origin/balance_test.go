package origin

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

func TestRoundRobinExact(t *testing.T) {
	_, urls := recorders(t, 3)
	c := newTestClient(t, Options{Pool: newTestPool(t, PoolOptions{Servers: servers(urls...)})})
	got := servedBy(t, c, 300, sameKey)
	for _, name := range []string{"s0", "s1", "s2"} {
		if got[name] != 100 {
			t.Errorf("%s served %d of 300, want exactly 100 (%v)", name, got[name], got)
		}
	}
}

// TestPoolSharedByClients checks that routes sharing a pool share its
// state: round robin continues across Clients.
func TestPoolSharedByClients(t *testing.T) {
	_, urls := recorders(t, 2)
	p := newTestPool(t, PoolOptions{Servers: servers(urls...)})
	a, b := newTestClient(t, Options{Pool: p}), newTestClient(t, Options{Pool: p})
	var got []string
	for _, c := range []*Client{a, a, b, b} {
		resp, _, err := get(t, c, "k", "/")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, resp.Header.Get("X-Served-By"))
	}
	if want := fmt.Sprint([]string{"s0", "s1", "s0", "s1"}); fmt.Sprint(got) != want {
		t.Errorf("served by %v, want %v", got, want)
	}
}

func TestWeightedRoundRobin(t *testing.T) {
	_, urls := recorders(t, 2)
	c := newTestClient(t, Options{Pool: newTestPool(t, PoolOptions{
		Algorithm: WeightedRoundRobin,
		Servers:   []Server{{URL: urls[0], Weight: 1}, {URL: urls[1], Weight: 3}},
	})})
	const n = 400
	got := servedBy(t, c, n, sameKey)
	// Smooth WRR is exact over whole cycles; the brief's tolerance is ±5%.
	for name, want := range map[string]float64{"s0": 0.25, "s1": 0.75} {
		if share := float64(got[name]) / n; share < want-0.05 || share > want+0.05 {
			t.Errorf("%s share %.3f, want %.2f±0.05 (%v)", name, share, want, got)
		}
	}
}

// TestWeightedRoundRobinSmooth checks nginx's interleaving: weights 5:1:1
// give a a b a c a a, not a a a a a b c.
func TestWeightedRoundRobinSmooth(t *testing.T) {
	urls := fakeURLs(3)
	p := newTestPool(t, PoolOptions{
		Algorithm: WeightedRoundRobin,
		Servers:   []Server{{URL: urls[0], Weight: 5}, {URL: urls[1], Weight: 1}, {URL: urls[2], Weight: 1}},
	})
	name := map[string]string{urls[0]: "a", urls[1]: "b", urls[2]: "c"}
	var got string
	for range 14 {
		got += name[p.pick("", nil).base]
	}
	if want := "aabacaaaabacaa"; got != want {
		t.Errorf("picks %s, want %s", got, want)
	}
}

// TestLeastConnPrefersIdle holds one exchange open on a slow server: every
// later request must go to the idle one.
func TestLeastConnPrefersIdle(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 100)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		w.Header().Set("X-Served-By", "slow")
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	fast := newRecorder(t, "fast")
	p := newTestPool(t, PoolOptions{Algorithm: LeastConn, Servers: servers(slow.URL, fast.URL)})
	c := newTestClient(t, Options{Pool: p})

	const n = 20
	slowHits := 0
	for i := range n {
		done := make(chan error, 1)
		go func() {
			_, _, err := get(t, c, strconv.Itoa(i), "/")
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
		case <-arrived:
			slowHits++
		}
	}
	if slowHits != 1 || fast.count() != n-1 {
		t.Errorf("slow got %d, fast %d of %d; want 1 and %d", slowHits, fast.count(), n, n-1)
	}
}

// TestLeastConnTiesRotate checks that idle servers share the load in turn.
func TestLeastConnTiesRotate(t *testing.T) {
	_, urls := recorders(t, 3)
	c := newTestClient(t, Options{Pool: newTestPool(t, PoolOptions{Algorithm: LeastConn, Servers: servers(urls...)})})
	got := servedBy(t, c, 30, sameKey)
	for _, name := range []string{"s0", "s1", "s2"} {
		if got[name] != 10 {
			t.Errorf("%s served %d of 30, want 10 (%v)", name, got[name], got)
		}
	}
}

func TestConsistentHashSameKeySameServer(t *testing.T) {
	_, urls := recorders(t, 3)
	c := newTestClient(t, Options{Pool: newTestPool(t, PoolOptions{Algorithm: ConsistentHash, Servers: servers(urls...)})})
	used := map[string]bool{}
	for i := range 30 {
		key := fmt.Sprintf("https://site.example/obj/%d", i)
		got := servedBy(t, c, 3, func(int) string { return key })
		if len(got) != 1 {
			t.Fatalf("key %s served by %v, want one server", key, got)
		}
		for name := range got {
			used[name] = true
		}
	}
	if len(used) != 3 {
		t.Errorf("30 keys used servers %v, want all 3", used)
	}
}

// TestConsistentHashRemoval checks the rendezvous property: removing a
// server moves only the keys it held.
func TestConsistentHashRemoval(t *testing.T) {
	urls := fakeURLs(4)
	four := newTestPool(t, PoolOptions{Algorithm: ConsistentHash, Servers: servers(urls...)})
	three := newTestPool(t, PoolOptions{Algorithm: ConsistentHash, Servers: servers(urls[0], urls[1], urls[3])})
	removed := urls[2]
	moved := 0
	for i := range 2000 {
		key := fmt.Sprintf("https://site.example/img/%d.jpg", i)
		before, after := four.pick(key, nil).base, three.pick(key, nil).base
		if before == removed {
			moved++
			continue
		}
		if before != after {
			t.Fatalf("key %s moved from %s to %s though %s stayed", key, before, after, before)
		}
	}
	// Its share is about 1/4 of the keys.
	if moved < 2000*15/100 || moved > 2000*35/100 {
		t.Errorf("removed server held %d of 2000 keys, want 15%%..35%%", moved)
	}
}

// TestConsistentHashWeights checks the weighted rendezvous shares.
func TestConsistentHashWeights(t *testing.T) {
	urls := fakeURLs(2)
	p := newTestPool(t, PoolOptions{
		Algorithm: ConsistentHash,
		Servers:   []Server{{URL: urls[0], Weight: 1}, {URL: urls[1], Weight: 3}},
	})
	const n = 20000
	got := map[string]int{}
	for i := range n {
		got[p.pick("key-"+strconv.Itoa(i), nil).base]++
	}
	for u, want := range map[string]float64{urls[0]: 0.25, urls[1]: 0.75} {
		if share := float64(got[u]) / n; share < want-0.05 || share > want+0.05 {
			t.Errorf("%s share %.3f, want %.2f±0.05", u, share, want)
		}
	}
}

// TestPickSkipsUnavailable checks every algorithm against down, ejected and
// already tried servers.
func TestPickSkipsUnavailable(t *testing.T) {
	for _, algo := range []string{RoundRobin, WeightedRoundRobin, LeastConn, ConsistentHash, ClientIPHash} {
		t.Run(algo, func(t *testing.T) {
			p := newTestPool(t, PoolOptions{Algorithm: algo, Servers: servers(fakeURLs(4)...)})
			s := p.servers
			s[0].up.Store(false)
			s[1].eject.until.Store(time.Now().Add(time.Hour).UnixNano())
			for i := range 20 {
				key := strconv.Itoa(i)
				if got := p.pick(key, []*upstream{s[2]}); got != s[3] {
					t.Fatalf("pick(%q) = %v, want the only usable server %s", key, got, s[3].base)
				}
				if got := p.pick(key, []*upstream{s[2], s[3]}); got != nil {
					t.Fatalf("pick(%q) = %s with every server unusable, want nil", key, got.base)
				}
			}
		})
	}
}

// BenchmarkPick measures one pick per algorithm over 8 servers; it must not
// allocate.
func BenchmarkPick(b *testing.B) {
	for _, algo := range []string{RoundRobin, WeightedRoundRobin, LeastConn, ConsistentHash, ClientIPHash} {
		b.Run(algo, func(b *testing.B) {
			list := servers(fakeURLs(8)...)
			for i := range list {
				list[i].Weight = i%3 + 1
			}
			p := newTestPool(b, PoolOptions{Algorithm: algo, Servers: list})
			const key = "https://site.example/a/b?c=d"
			b.ReportAllocs()
			for b.Loop() {
				if p.pick(key, nil) == nil {
					b.Fatal("no server picked")
				}
			}
		})
	}
}

// TestPickDoesNotAllocate keeps BenchmarkPick's promise under go test.
func TestPickDoesNotAllocate(t *testing.T) {
	for _, algo := range []string{RoundRobin, WeightedRoundRobin, LeastConn, ConsistentHash, ClientIPHash} {
		p := newTestPool(t, PoolOptions{Algorithm: algo, Servers: []Server{{URL: "http://a", Weight: 2}, {URL: "http://b"}}})
		tried := []*upstream{p.servers[0]}
		if n := testing.AllocsPerRun(100, func() { p.pick("key", tried) }); n != 0 {
			t.Errorf("%s: pick allocates %v times, want 0", algo, n)
		}
	}
}
