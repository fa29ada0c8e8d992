package edge

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Concurrent misses for one key become one upstream fetch.
func TestCoalescedMisses(t *testing.T) {
	c := newClock()
	o, release := heldOrigin(t, c, "cold")
	e := newEdge(t, c, edgeConfig{upstream: o.URL})

	const clients = 200
	var wg sync.WaitGroup
	bodies := make(chan string, clients)
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: clients}}
	defer client.CloseIdleConnections()
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(e.URL + "/cold")
			if err != nil {
				bodies <- "error: " + err.Error()
				return
			}
			defer resp.Body.Close()
			bodies <- readAll(t, resp)
		}()
	}
	// Every request joins the flight before the origin answers.
	waitJoined(t, e, clients-1)
	release.open()
	wg.Wait()
	close(bodies)
	for b := range bodies {
		if b != "cold" {
			t.Errorf("a client got %q", b)
		}
	}
	if n := o.requests.Load(); n != 1 {
		t.Errorf("origin requests = %d, want exactly 1 for %d concurrent misses", n, clients)
	}
}

// The shared fetch is not cancelled when the client that started it leaves.
func TestLeaderDisconnectDoesNotCancel(t *testing.T) {
	c := newClock()
	o, release := heldOrigin(t, c, "finished")
	e := newEdge(t, c, edgeConfig{upstream: o.URL})

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.URL+"/leave", nil)
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	waitFor(t, func() bool { return o.requests.Load() == 1 })
	cancel()
	<-done
	release.open()

	waitFor(t, func() bool {
		e.store.Flush()
		resp, _ := e.get(t, "/leave", "Cache-Control", "only-if-cached")
		return resp.StatusCode == 200
	})
	if n := o.requests.Load(); n != 1 {
		t.Errorf("origin requests = %d, want 1", n)
	}
}

// A failed shared fetch gives every waiter a proper error, not a hang.
func TestCoalescedFailure(t *testing.T) {
	c := newClock()
	release := newGate()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		release.wait()
		// Hijack and drop the connection: a broken upstream.
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	t.Cleanup(release.open) // runs before the origin closes, so a failing test cannot hang
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	var wg sync.WaitGroup
	statuses := make(chan int, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(e.URL + "/broken")
			if err != nil {
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	waitJoined(t, e, 20-1)
	release.open()
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != http.StatusBadGateway {
			t.Errorf("waiter got status %d, want 502", s)
		}
	}
}

// A response that cannot be shared (private) is not handed to waiters: each
// gets its own.
func TestPrivateNotShared(t *testing.T) {
	c := newClock()
	release := newGate()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		release.wait()
		w.Header().Set("Cache-Control", "private")
		_, _ = w.Write([]byte("for " + r.Header.Get("X-User")))
	})
	t.Cleanup(release.open) // runs before the origin closes, so a failing test cannot hang
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	var wg sync.WaitGroup
	bad := make(chan string, 10)
	for i := 0; i < 10; i++ {
		user := string(rune('a' + i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, body := e.get(t, "/me", "X-User", user)
			if body != "for "+user {
				bad <- user + " got " + body
			}
		}()
	}
	waitJoined(t, e, 10-1)
	release.open()
	wg.Wait()
	close(bad)
	for b := range bad {
		t.Error(b)
	}
}

// Edge -> shield -> origin: the shield caches too, both appear in
// Cache-Status, and a second edge is served by the shield's copy.
func TestShieldHop(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static("via shield", "Cache-Control", "max-age=60", "CDN-Cache-Control", "max-age=120"))
	shield := newEdge(t, c, edgeConfig{name: "shield", upstream: o.URL, shield: true})
	edge1 := newEdge(t, c, edgeConfig{name: "edged", shields: []string{shield.URL}})
	edge2 := newEdge(t, c, edgeConfig{name: "edged", shields: []string{shield.URL}})

	site := []string{"Host", "www.example.com"} // both edges forward the site's Host, so the shield has one key
	resp, body := edge1.get(t, "/s", site...)
	if body != "via shield" {
		t.Fatalf("body %q", body)
	}
	cs := resp.Header.Get("Cache-Status")
	if !strings.HasPrefix(cs, "shield; fwd=uri-miss") || !strings.Contains(cs, ", edged; fwd=uri-miss") {
		t.Errorf("Cache-Status = %q, want the shield's member then the edge's", cs)
	}
	if resp.Header.Get("CDN-Cache-Control") != "" {
		t.Error("the edge forwarded CDN-Cache-Control to a client")
	}
	resp, _ = edge2.get(t, "/s", site...)
	if cs := resp.Header.Get("Cache-Status"); !strings.HasPrefix(cs, "shield; hit") {
		t.Errorf("second edge Cache-Status = %q, want a shield hit", cs)
	}
	resp, _ = edge1.get(t, "/s", site...)
	wantStatus(t, resp, 200, "hit")
	if n := o.requests.Load(); n != 1 {
		t.Errorf("origin requests = %d, want 1", n)
	}
	// The edge's targeted freshness came through the shield.
	c.Advance(90 * time.Second)
	resp, _ = edge1.get(t, "/s", site...)
	wantStatus(t, resp, 200, "hit")
}

// waitJoined waits until n requests wait on another request's fetch: then
// releasing the origin shows what they all get, however slowly they came.
func waitJoined(t testing.TB, e *testEdge, n int) {
	t.Helper()
	waitFor(t, func() bool { return testutil.ToFloat64(e.handler.metrics.coalesced) >= float64(n) })
}

// heldOrigin is an origin that answers body, fresh for a minute, once
// release is opened. The test's cleanup opens it before the origin closes,
// so a failing test cannot hang.
func heldOrigin(t testing.TB, c *clock, body string) (o *testOrigin, release *gate) {
	t.Helper()
	release = newGate()
	o = newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		release.wait()
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = io.WriteString(w, body)
	})
	t.Cleanup(release.open)
	return o, release
}

// waitFor polls cond until it holds, failing the test after 30s (generous:
// the machine may be loaded). It is the package's one poll, for state that
// sends no event (a metric, the flights map); its sleep is the interval
// between looks, not a guess at how long something takes.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(time.Millisecond)
	}
}

// After a response that could not be stored, requests for that key go
// upstream at once instead of waiting on each other's fetch; a storable
// response ends that.
func TestUncacheableSkipsCoalescing(t *testing.T) {
	c := newClock()
	release := newGate()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Wait") != "" {
			release.wait()
		}
		w.Header().Set("Cache-Control", "private")
	})
	t.Cleanup(release.open) // runs before the origin closes, so a failing test cannot hang
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	e.get(t, "/private")

	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.get(t, "/private", "X-Wait", "1")
		}()
	}
	// All five reach the origin together: none waits for another's answer.
	waitFor(t, func() bool { return o.requests.Load() == 6 })
	release.open()
	wg.Wait()

	o.set(static("now public", "Cache-Control", "max-age=60"))
	e.get(t, "/private")
	if resp, _ := e.get(t, "/private"); !isHit(resp) {
		t.Errorf("a storable response was not stored after the key was uncacheable")
	}
}

// Requests that missed while a flight ran, and reach the flights only after
// it ended, are answered from what it stored, not by a second fetch: 1000
// clients of one cold key on 2 cores made 2 origin fetches now and then
// (#17), as requests that had looked the key up waited for a CPU while the
// flight stored the object and left.
func TestLateJoinersServeWhatTheFlightStored(t *testing.T) {
	c := newClock()
	o, release := heldOrigin(t, c, "cold")
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: lateJoiners + 1}}
	defer client.CloseIdleConnections()
	checkLateJoiners(t, e, o.requests.Load, release, http.StatusOK, []byte("cold"), func() lateJoin {
		resp, err := client.Get(e.URL + "/cold")
		return readLateJoin(resp, err)
	})
}

// Requests that found a response stale before its background refresh
// (RFC 5861 §3) stored the new one, and reach the flights only after that
// refresh ended, start no second refresh: the origin is asked once for it.
func TestLateStaleRequestsStartNoSecondRefresh(t *testing.T) {
	c := newClock()
	release := newGate()
	t.Cleanup(release.open)
	var hold atomic.Bool
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		if hold.Load() {
			release.wait()
		}
		w.Header().Set("Cache-Control", "max-age=10, stale-while-revalidate=60")
		_, _ = io.WriteString(w, "swr")
	})
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	e.get(t, "/swr")
	c.Advance(20 * time.Second)
	hold.Store(true)

	proceed, arrived := holdLateJoins(t, e)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: lateJoiners}}
	defer client.CloseIdleConnections()
	// The first stale request is served at once and starts the refresh.
	resp, body := e.get(t, "/swr")
	wantStatus(t, resp, http.StatusOK, "hit")
	lates := make(chan lateJoin, lateJoiners)
	for range lateJoiners {
		go func() { lates <- readLateJoin(client.Get(e.URL + "/swr")) }()
	}
	for range lateJoiners {
		<-arrived
	}
	release.open()
	e.waitTasks(t) // the refresh has stored the new response and ended
	proceed.open()
	for range lateJoiners {
		if got := <-lates; got.err != nil || got.status != http.StatusOK || string(got.body) != body {
			t.Errorf("late request: status %d, body %q, err %v", got.status, got.body, got.err)
		}
	}
	e.waitTasks(t)
	if n := o.requests.Load(); n != 2 {
		t.Errorf("origin requests = %d, want 2 (the fill, one refresh)", n)
	}
}

// lateJoiners is how many late requests checkLateJoiners holds. It stays
// below the client's fetch slots (defaultFillsPerClient): each late
// request holds one while it is held.
const lateJoiners = 16

// lateJoin is what one request of checkLateJoiners got.
type lateJoin struct {
	status int
	body   []byte
	hit    bool
	err    error
}

func readLateJoin(resp *http.Response, err error) lateJoin {
	if err != nil {
		return lateJoin{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return lateJoin{status: resp.StatusCode, body: b, hit: isHit(resp), err: err}
}

// holdLateJoins holds every join of e's flights but the first (the
// leader's) until proceed is opened; arrived receives one value per join
// held, up to lateJoiners.
func holdLateJoins(t *testing.T, e *testEdge) (proceed *gate, arrived <-chan struct{}) {
	var joins atomic.Int64
	held := make(chan struct{}, lateJoiners)
	proceed = newGate()
	t.Cleanup(proceed.open)
	hook := func() {
		if joins.Add(1) == 1 {
			return // the leader, which starts the flight
		}
		held <- struct{}{}
		proceed.wait()
	}
	e.handler.flights.beforeJoin.Store(&hook)
	return proceed, held
}

// checkLateJoiners sends one request through e (do), whose origin holds
// the answer until release is opened, then lateJoiners more that each look
// the store up while that fetch runs (a miss: nothing is stored yet) and
// are held between their lookup and their join (flights.beforeJoin) until
// the first request has its answer: its flight has stored the object and
// ended. It fails t unless every request gets status and body, each late
// one from the store, and the origin (requests) is asked once.
func checkLateJoiners(t *testing.T, e *testEdge, requests func() int64, release *gate, status int, body []byte, do func() lateJoin) {
	t.Helper()
	proceed, arrived := holdLateJoins(t, e)
	check := func(who string, got lateJoin) {
		t.Helper()
		if got.err != nil || got.status != status || !bytes.Equal(got.body, body) {
			t.Errorf("%s: status %d, %d bytes, err %v; want %d and %d bytes", who, got.status, len(got.body), got.err, status, len(body))
		}
	}

	leader := make(chan lateJoin, 1)
	go func() { leader <- do() }()
	waitFor(t, func() bool { return requests() == 1 }) // the flight is under way
	lates := make(chan lateJoin, lateJoiners)
	for range lateJoiners {
		go func() { lates <- do() }()
	}
	for range lateJoiners {
		<-arrived
	}
	release.open()
	check("leader", <-leader)
	proceed.open()
	for range lateJoiners {
		got := <-lates
		check("late request", got)
		if !got.hit {
			t.Error("a late request was not answered from the store")
		}
	}
	if n := requests(); n != 1 {
		t.Errorf("origin requests = %d, want 1: late requests fetched the object again", n)
	}
}
