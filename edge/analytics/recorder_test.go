package analytics

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for the minute ring.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestRecorder(t testing.TB, o Options) (*Recorder, *fakeClock) {
	t.Helper()
	c := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	o.Now = c.now
	r, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return r, c
}

func addr(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}) }

// A flood of distinct URLs and clients must neither grow memory past TopK
// entries per minute nor push out the heavy hitters (the space-saving
// guarantee: a key counted more than N/k times is kept).
func TestHeavyHittersSurviveAFlood(t *testing.T) {
	r, _ := newTestRecorder(t, Options{TopK: 10})
	for i := range 5000 {
		r.Observe(Event{Host: "a.test", Path: fmt.Sprintf("/flood/%d", i), Client: addr(i), Status: 200})
		if i%5 == 0 {
			r.Observe(Event{Host: "a.test", Path: "/hot", Client: addr(1 << 15), Status: 503})
		}
	}
	m := r.ring[int(r.opts.Now().Unix()/60%int64(len(r.ring)))]
	if n := len(m.urls.index); n > 10 {
		t.Fatalf("url summary holds %d keys, want at most TopK=10", n)
	}
	s := r.Snapshot(3)
	if s.Requests != 6000 {
		t.Errorf("requests = %d, want 6000", s.Requests)
	}
	if got := s.TopURLs[0]; got.Key != "a.test/hot" || got.Count < 1000 || got.Count-got.Error > 1000 {
		t.Errorf("top URL = %+v, want a.test/hot with 1000 within [count-error, count]", got)
	}
	if got := s.TopClients[0].Key; got != addr(1<<15).String() {
		t.Errorf("top client = %s, want %s", got, addr(1<<15))
	}
	if len(s.TopErrorClient) != 1 || s.TopErrorClient[0].Count != 1000 || s.TopErrorClient[0].Error != 0 {
		t.Errorf("top error clients = %+v, want only the 503 client, counted exactly 1000", s.TopErrorClient)
	}
	if s.Status[200] != 5000 || s.Status[503] != 1000 {
		t.Errorf("status = %v", s.Status)
	}
	if len(s.TopURLs) != 3 {
		t.Errorf("len(TopURLs) = %d, want 3", len(s.TopURLs))
	}
}

// Minutes older than the window drop out of the answer and their buckets
// are reused.
func TestWindowForgetsOldMinutes(t *testing.T) {
	r, clock := newTestRecorder(t, Options{Window: 2})
	r.Observe(Event{Host: "a.test", Path: "/old", Status: 200})
	clock.add(time.Minute)
	r.Observe(Event{Host: "a.test", Path: "/new", Status: 200})
	if got := r.Snapshot(0).Requests; got != 2 {
		t.Fatalf("requests within the window = %d, want 2", got)
	}
	clock.add(time.Minute)
	s := r.Snapshot(0)
	if s.Requests != 1 || len(s.TopURLs) != 1 || s.TopURLs[0].Key != "a.test/new" {
		t.Fatalf("after two minutes: %+v, want only /new", s)
	}
	if s.WindowSeconds != 60 { // the previous minute and the current one, just begun
		t.Errorf("window = %vs, want 60", s.WindowSeconds)
	}
	clock.add(time.Minute)
	r.Observe(Event{Host: "a.test", Path: "/newer", Status: 200})
	if s := r.Snapshot(0); s.Requests != 1 || s.TopURLs[0].Key != "a.test/newer" {
		t.Fatalf("reused bucket: %+v, want only /newer", s)
	}
}

func TestRouteQuantiles(t *testing.T) {
	r, _ := newTestRecorder(t, Options{})
	for i := 1; i <= 100; i++ {
		r.Observe(Event{Site: "site", Route: "/api/", Status: 200, Hit: i%4 == 0, Duration: time.Duration(i) * time.Millisecond})
	}
	s := r.Snapshot(0)
	if len(s.Routes) != 1 {
		t.Fatalf("routes = %+v", s.Routes)
	}
	got := s.Routes[0]
	if got.Requests != 100 || got.Hits != 25 {
		t.Errorf("route counts %d requests, %d hits; want 100, 25", got.Requests, got.Hits)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"p50", got.P50, 50}, {"p95", got.P95, 95}, {"p99", got.P99, 99}} {
		// The bucket's upper bound: never below, at most 2^(1/4) above.
		if c.got < c.want || c.got > c.want*1.19 {
			t.Errorf("%s = %vms, want within [%v, %v]", c.name, c.got, c.want, c.want*1.19)
		}
	}
}

func TestRoutesAndKeysAreBounded(t *testing.T) {
	r, _ := newTestRecorder(t, Options{MaxRoutes: 2})
	for i := range 5 {
		r.Observe(Event{Route: fmt.Sprint("/r", i), Host: "h", Path: "/" + strings.Repeat("x", 10_000), Status: 200})
	}
	s := r.Snapshot(0)
	names := []string{}
	for _, rl := range s.Routes {
		names = append(names, rl.Route)
	}
	if want := []string{OtherRoute, "/r0", "/r1"}; fmt.Sprint(names) != fmt.Sprint(want) {
		t.Errorf("routes = %v, want %v", names, want)
	}
	if k := s.TopURLs[0].Key; len(k) != 1+MaxKeyBytes {
		t.Errorf("kept URL key of %d bytes, want host + %d", len(k), MaxKeyBytes)
	}
}

func TestNegativeOptionsAreRefused(t *testing.T) {
	if _, err := New(Options{TopK: -1}); err == nil {
		t.Fatal("New accepted TopK -1")
	}
}

func TestConcurrentObserve(t *testing.T) {
	r, _ := newTestRecorder(t, Options{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				r.Observe(Event{Host: "h", Path: fmt.Sprint("/", i%7), Client: addr(g), Status: 200, Duration: time.Millisecond})
				if i%100 == 0 {
					r.Snapshot(5)
				}
			}
		})
	}
	wg.Wait()
	if got := r.Snapshot(0).Requests; got != 2000 {
		t.Fatalf("requests = %d, want 2000", got)
	}
}

// Observing a URL, client and route already counted allocates nothing: a
// node feeds every request through Observe.
func TestObserveSeenKeyDoesNotAllocate(t *testing.T) {
	r, _ := newTestRecorder(t, Options{})
	e := Event{Host: "a.test", Path: "/p", Client: addr(1), Site: "s", Route: "/", Status: 500, Hit: true, Duration: time.Millisecond}
	r.Observe(e)
	if n := testing.AllocsPerRun(100, func() { r.Observe(e) }); n != 0 {
		t.Errorf("Observe of a seen event: %v allocations, want 0", n)
	}
}
