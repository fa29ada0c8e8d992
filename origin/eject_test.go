package origin

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestEjectorBackoff drives one server's passive state with a fake clock.
func TestEjectorBackoff(t *testing.T) {
	cfg := Ejection{Failures: 3, Backoff: time.Second, MaxBackoff: 5 * time.Second}
	clock := newFakeClock()
	var e ejector
	fail := func() time.Duration { return e.failure(clock.Now(), cfg) }
	ejected := func() bool { return e.ejected(clock.Now().UnixNano()) }

	for i, want := range []time.Duration{0, 0, time.Second} {
		if got := fail(); got != want {
			t.Fatalf("failure %d: back-off %v, want %v", i+1, got, want)
		}
	}
	if !ejected() {
		t.Fatal("not ejected after 3 failures")
	}
	if got := fail(); got != 0 {
		t.Fatalf("failure while ejected: back-off %v, want 0 (late failures are ignored)", got)
	}
	// Back on probation, each failure ejects again at once, doubling to the cap.
	for _, want := range []time.Duration{2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second} {
		clock.Advance(time.Minute)
		if ejected() {
			t.Fatal("still ejected after the back-off")
		}
		if got := fail(); got != want {
			t.Fatalf("failure on probation: back-off %v, want %v", got, want)
		}
	}
	// A success after the back-off forgives: 3 failures again, from 1s.
	clock.Advance(time.Minute)
	e.success(clock.Now())
	for i, want := range []time.Duration{0, 0, time.Second} {
		if got := fail(); got != want {
			t.Fatalf("after recovery, failure %d: back-off %v, want %v", i+1, got, want)
		}
	}
}

func TestEjectorSuccessResetsRun(t *testing.T) {
	cfg := Ejection{Failures: 2, Backoff: time.Second, MaxBackoff: time.Second}
	now := time.Now()
	var e ejector
	e.failure(now, cfg)
	e.success(now)
	if got := e.failure(now, cfg); got != 0 {
		t.Fatalf("failure after a success ejected for %v; the run should have restarted", got)
	}
	if got := e.failure(now, cfg); got != time.Second {
		t.Fatalf("second failure in a row: back-off %v, want 1s", got)
	}
	disabled := Ejection{Disabled: true}
	var d ejector
	for range 100 {
		if d.failure(now, disabled) != 0 {
			t.Fatal("ejection with Failures < 0")
		}
	}
}

// TestPassiveEjectionAndRecovery: a server answering 5xx is ejected after
// Failures responses, skipped during the back-off, then tried again and
// restored when it answers well.
func TestPassiveEjectionAndRecovery(t *testing.T) {
	var broken atomic.Bool
	broken.Store(true)
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Served-By", "flaky")
		if broken.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(flaky.Close)
	good := newRecorder(t, "good")
	p := newTestPool(t, PoolOptions{
		Servers:  servers(flaky.URL, good.URL),
		Ejection: Ejection{Failures: 3, Backoff: 10 * time.Second},
	})
	clock := newFakeClock()
	p.now = clock.Now
	c := newTestClient(t, Options{Pool: p})

	// Round robin alternates: 6 requests give flaky its 3 failures. A 5xx
	// is a response, returned as is, not retried.
	got := servedBy(t, c, 6, sameKey)
	if got["flaky"] != 3 || !p.Status()[0].Ejected {
		t.Fatalf("served by %v, status %+v; want flaky 3 times, then ejected", got, p.Status())
	}
	if got := servedBy(t, c, 10, sameKey); got["good"] != 10 {
		t.Errorf("while flaky is ejected, served by %v, want good only", got)
	}

	broken.Store(false)
	clock.Advance(11 * time.Second)
	if p.Status()[0].Ejected {
		t.Fatal("flaky still ejected after its back-off")
	}
	if got := servedBy(t, c, 10, sameKey); got["flaky"] != 5 {
		t.Errorf("after the back-off, served by %v, want flaky 5 of 10", got)
	}
}

// TestAllDownFailsFast: when every server is ejected, Do answers
// ErrNoHealthy at once, without waiting for any timeout.
func TestAllDownFailsFast(t *testing.T) {
	p := newTestPool(t, PoolOptions{
		Servers:       servers(deadURL(t), deadURL(t)),
		Ejection:      Ejection{Failures: 1, Backoff: time.Hour},
		HeaderTimeout: 30 * time.Second, ConnectTimeout: 30 * time.Second,
	})
	c := newTestClient(t, Options{Pool: p})
	// The first request fails on both (one retry) and ejects both.
	_, _, err := get(t, c, "k", "/")
	wantErrIs(t, err, ErrConnect)
	for _, st := range p.Status() {
		if !st.Ejected {
			t.Fatalf("status %+v, want every server ejected", p.Status())
		}
	}
	start := time.Now()
	_, _, err = get(t, c, "k", "/")
	wantErrIs(t, err, ErrNoHealthy)
	// At once: far below the 30s timeouts, with room for a loaded machine.
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("ErrNoHealthy took %v, want it at once", elapsed)
	}
}

// TestShieldEjection: a dead shield is ejected and then skipped; with every
// shield ejected the request falls back to the pool, or fails fast with
// ErrNoHealthy without fallback.
func TestShieldEjection(t *testing.T) {
	live, dead := newRecorder(t, "live"), deadURL(t)
	origin := newRecorder(t, "origin")
	c := newTestClient(t, Options{Shields: []string{dead, live.URL}, ShieldEjection: Ejection{Failures: 1, Backoff: time.Hour}})
	key := keyWithFirst(t, c, dead)
	if resp, _, err := get(t, c, key, "/"); err != nil || resp.Header.Get("X-Served-By") != "live" {
		t.Fatalf("first request: %v; want the live shield after failover", err)
	}
	if !c.shields[0].eject.ejected(time.Now().UnixNano()) {
		t.Fatal("dead shield not ejected after its failure")
	}

	t.Run("all ejected, no fallback", func(t *testing.T) {
		c := newTestClient(t, Options{Shields: []string{deadURL(t)}, ShieldEjection: Ejection{Failures: 1, Backoff: time.Hour}})
		_, _, err := get(t, c, "k", "/")
		wantErrIs(t, err, ErrConnect)
		_, _, err = get(t, c, "k", "/")
		wantErrIs(t, err, ErrNoHealthy)
	})
	t.Run("all ejected, fallback to pool", func(t *testing.T) {
		p := newTestPool(t, PoolOptions{Servers: servers(origin.URL)})
		c := newTestClient(t, Options{Shields: []string{deadURL(t)}, ShieldFallback: true, Pool: p,
			ShieldEjection: Ejection{Failures: 1, Backoff: time.Hour}})
		for i := range 2 {
			resp, _, err := get(t, c, "k", "/")
			if err != nil || resp.Header.Get("X-Served-By") != "origin" {
				t.Fatalf("request %d: %v; want the origin pool", i, err)
			}
		}
	})
}

// TestShield5xxNotEjected: a shield relaying the origin's 5xx is not at
// fault, so it stays in rotation.
func TestShield5xxNotEjected(t *testing.T) {
	shield := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	t.Cleanup(shield.Close)
	c := newTestClient(t, Options{Shields: []string{shield.URL}, ShieldEjection: Ejection{Failures: 1, Backoff: time.Hour}})
	for i := range 3 {
		resp, _, err := get(t, c, "k", "/")
		if err != nil || resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("request %d: %v; want the shield's 502 each time", i, err)
		}
	}
}

// TestGarbageEjects: a server answering garbage counts as failing.
func TestGarbageEjects(t *testing.T) {
	garbage := rawServer(t, "NOT HTTP AT ALL\r\n\r\n")
	p := newTestPool(t, PoolOptions{Servers: servers(garbage), Ejection: Ejection{Failures: 2, Backoff: time.Hour}})
	c := newTestClient(t, Options{Pool: p})
	for range 2 {
		_, _, err := get(t, c, "k", "/")
		wantErrIs(t, err, ErrProtocol)
	}
	_, _, err := get(t, c, "k", "/")
	wantErrIs(t, err, ErrNoHealthy)
}
