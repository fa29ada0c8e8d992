package origin

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestHealthRiseFall drives record with a sequence of check results: Fall
// failures in a row take a server down, Rise successes in a row bring it up.
func TestHealthRiseFall(t *testing.T) {
	const ok, bad = true, false
	tests := []struct {
		name    string
		results []bool
		want    []bool // state after each result
	}{
		{"stays up on good checks", []bool{ok, ok, ok}, []bool{true, true, true}},
		{"down after fall=3", []bool{bad, bad, bad, bad}, []bool{true, true, false, false}},
		{"a success resets the fall count", []bool{bad, bad, ok, bad, bad, bad}, []bool{true, true, true, true, true, false}},
		{"up after rise=2", []bool{bad, bad, bad, ok, ok}, []bool{true, true, false, false, true}},
		{"a failure resets the rise count", []bool{bad, bad, bad, ok, bad, ok, ok}, []bool{true, true, false, false, false, false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTestPool(t, PoolOptions{Servers: servers("http://a"), Health: HealthCheck{Path: "/h", Rise: 2, Fall: 3}})
			up := p.servers[0]
			for i, r := range tt.results {
				var err error
				if !r {
					err = errors.New("check failed")
				}
				p.record(context.Background(), up, err)
				if got := up.up.Load(); got != tt.want[i] {
					t.Fatalf("after result %d (%v): up = %v, want %v", i, tt.results[:i+1], got, tt.want[i])
				}
			}
		})
	}
}

// flipServer answers its health endpoint with 200 or 503 as told, and any
// other path with 200 and X-Served-By. open counts its connections not yet
// closed: once it is zero, every request a client wrote has been handled.
type flipServer struct {
	*httptest.Server
	healthy atomic.Bool
	checks  atomic.Int64
	open    atomic.Int64
}

func newFlipServer(tb testing.TB, name string) *flipServer {
	tb.Helper()
	fs := &flipServer{}
	fs.healthy.Store(true)
	fs.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			fs.checks.Add(1)
			if r.Host != "health.example" || r.Header.Get("User-Agent") == "" {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			if !fs.healthy.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			return
		}
		w.Header().Set("X-Served-By", name)
	}))
	fs.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			fs.open.Add(1)
		case http.StateClosed, http.StateHijacked:
			fs.open.Add(-1)
		}
	}
	fs.Start()
	tb.Cleanup(fs.Close)
	return fs
}

// TestActiveHealthTransitions flips a server's health endpoint and waits for
// the pool to notice, each way; while it is down no request reaches it.
func TestActiveHealthTransitions(t *testing.T) {
	a, b := newFlipServer(t, "a"), newFlipServer(t, "b")
	p := newTestPool(t, PoolOptions{
		Servers: servers(a.URL, b.URL),
		Health:  HealthCheck{Path: "/healthz", Host: "health.example", Interval: 20 * time.Millisecond, Timeout: time.Second, Rise: 2, Fall: 2},
	})
	p.Start(t.Context())
	c := newTestClient(t, Options{Pool: p})
	waitFor(t, "a second check of a", func() bool { return a.checks.Load() >= 2 })
	if st := p.Status(); !st[0].Up || !st[1].Up {
		t.Fatalf("status %+v, want both up", st)
	}

	a.healthy.Store(false)
	waitFor(t, "a down", func() bool { return !p.Status()[0].Up })
	if got := servedBy(t, c, 10, sameKey); got["b"] != 10 {
		t.Errorf("with a down, served by %v, want b only", got)
	}

	a.healthy.Store(true)
	waitFor(t, "a up", func() bool { return p.Status()[0].Up })
	if got := servedBy(t, c, 10, sameKey); got["a"] != 5 || got["b"] != 5 {
		t.Errorf("with both up, served by %v, want 5 each", got)
	}
}

// TestStartDown checks that servers configured to start down take no
// request before their checks pass.
func TestStartDown(t *testing.T) {
	a := newFlipServer(t, "a")
	p := newTestPool(t, PoolOptions{
		Servers: servers(a.URL),
		Health:  HealthCheck{Path: "/healthz", Host: "health.example", Interval: 10 * time.Millisecond, Rise: 1, StartDown: true},
	})
	c := newTestClient(t, Options{Pool: p})
	_, _, err := get(t, c, "k", "/")
	wantErrIs(t, err, ErrNoHealthy)
	p.Start(t.Context())
	waitFor(t, "a up", func() bool { return p.Status()[0].Up })
	if _, _, err := get(t, c, "k", "/"); err != nil {
		t.Fatalf("after a came up: %v", err)
	}
}

// TestHealthChecksStop checks that Close stops the checks.
func TestHealthChecksStop(t *testing.T) {
	a := newFlipServer(t, "a")
	p := newTestPool(t, PoolOptions{
		Servers: servers(a.URL),
		Health:  HealthCheck{Path: "/healthz", Host: "health.example", Interval: 10 * time.Millisecond},
	})
	p.Start(context.Background())
	waitFor(t, "a check", func() bool { return a.checks.Load() >= 1 })
	// Only runChecks starts checks. While none runs, no check can come
	// later: that, not a quiet spell, shows that the checks stopped. (No
	// test of this package runs in parallel, so every checker seen is p's.)
	if !checkerRuns() {
		t.Fatal("no goroutine in (*Pool).runChecks while the checks run: renamed? update checkerRuns")
	}
	p.Close()
	if checkerRuns() {
		t.Fatal("a health checker still runs after Close returned")
	}
	// A check written just before Close may reach the server's handler
	// after Close returns (the server runs it on its own goroutine). Close
	// has closed the check connections, so once the server has closed its
	// side of each, every check written has been counted.
	waitFor(t, "the check connections to close", func() bool { return a.open.Load() == 0 })
	n := a.checks.Load()
	p.Start(context.Background()) // after Close: no-op
	if checkerRuns() {
		t.Fatal("Start after Close started a health checker")
	}
	if got := a.checks.Load(); got != n {
		t.Errorf("%d checks after Close, want none", got-n)
	}
}

// checkerRuns reports whether a goroutine is in (*Pool).runChecks.
func checkerRuns() bool {
	buf := make([]byte, 1<<20)
	return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "origin.(*Pool).runChecks(")
}

// TestInheritHealth: a pool rebuilt with one more server takes the
// verdicts of the previous pool's checks for the servers they share: a
// (found up) takes requests at once although the pool starts down, and c
// (found down) none; b, new, starts down as configured.
func TestInheritHealth(t *testing.T) {
	a, b, c := newFlipServer(t, "a"), newFlipServer(t, "b"), newFlipServer(t, "c")
	c.healthy.Store(false)
	health := HealthCheck{Path: "/healthz", Host: "health.example", Interval: 10 * time.Millisecond, Rise: 1, Fall: 1, StartDown: true}
	prev := newTestPool(t, PoolOptions{Name: "web", Servers: servers(a.URL, c.URL), Health: health})
	prev.Start(t.Context())
	waitFor(t, "a up, c checked", func() bool { return prev.Status()[0].Up && c.checks.Load() > 0 })

	next := newTestPool(t, PoolOptions{Name: "web", Servers: servers(a.URL, b.URL, c.URL), Health: health})
	next.InheritHealth(prev)
	var got []bool
	for _, s := range next.Status() {
		got = append(got, s.Up)
	}
	if want := []bool{true, false, false}; !slices.Equal(got, want) {
		t.Errorf("up after InheritHealth = %v, want %v (a inherited up, b new and starting down, c inherited down)", got, want)
	}
	resp, _, err := get(t, newTestClient(t, Options{Pool: next}), "k", "/")
	if err != nil || resp.Header.Get("X-Served-By") != "a" {
		t.Fatalf("request before next's own checks: %v; want it served by a", err)
	}
}
