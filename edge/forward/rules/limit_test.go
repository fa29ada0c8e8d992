package rules

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// TestRateLimit with a fake clock: a burst passes, the next request is
// limited with the wait until a token, and tokens come back at the rate.
// Clients are limited apart; with key user, a user's requests share one
// bucket from any address.
func TestRateLimit(t *testing.T) {
	e := newEngine(t, Options{Limits: Limits{Rate: 2, Burst: 3}})
	now := monday10
	r := client()
	for i := range 3 {
		if d := e.Decide(r, now); !d.Allow {
			t.Fatalf("request %d of the burst: %+v", i, d)
		}
	}
	d := e.Decide(r, now)
	if d.Allow || !d.Limited || d.Rule != LimitRule || d.RetryAfter != 500*time.Millisecond {
		t.Fatalf("over the burst: %+v, want Limited by %q, RetryAfter 500ms", d, LimitRule)
	}
	if d := e.Decide(r, now); d.RetryAfter != 500*time.Millisecond {
		t.Errorf("a refused request deepened the debt: RetryAfter %v", d.RetryAfter)
	}
	other := r
	other.Client = addr("10.1.2.4")
	if d := e.Decide(other, now); !d.Allow {
		t.Errorf("another client limited: %+v", d)
	}
	if d := e.Decide(r, now.Add(500*time.Millisecond)); !d.Allow {
		t.Errorf("after RetryAfter: %+v", d)
	}

	byUser := newEngine(t, Options{Limits: Limits{Key: KeyUser, Rate: 1, Burst: 1}})
	a, b := r, r
	a.User, b.User = "alice", "alice"
	b.Client = addr("192.0.2.9")
	if d := byUser.Decide(a, now); !d.Allow {
		t.Fatalf("alice's first request: %+v", d)
	}
	if d := byUser.Decide(b, now); !d.Limited {
		t.Errorf("alice from another address not limited: %+v", d)
	}
	if d := byUser.Decide(r, now); !d.Allow {
		t.Errorf("an unauthenticated client shares alice's bucket: %+v", d)
	}
}

// TestRateLimitOnlyAllowed: a request the rules deny takes no token.
func TestRateLimitOnlyAllowed(t *testing.T) {
	e := newEngine(t, Options{
		List:   []Rule{{Name: "no-25", Action: ActionDeny, Ports: []string{"25"}}},
		Limits: Limits{Rate: 1, Burst: 1},
	})
	r := client()
	r.Port = 25
	for range 3 {
		if d := e.Decide(r, monday10); d.Rule != "no-25" {
			t.Fatalf("denied request: %+v", d)
		}
	}
	r.Port = 443
	if d := e.Decide(r, monday10); !d.Allow {
		t.Errorf("denied requests used the client's tokens: %+v", d)
	}
}

// TestIPv6ClientsPer64: addresses of one /64 share a bucket.
func TestIPv6ClientsPer64(t *testing.T) {
	e := newEngine(t, Options{Limits: Limits{Rate: 1, Burst: 1}})
	r := client()
	r.Client = addr("2001:db8:1:2::1")
	e.Decide(r, monday10)
	r.Client = addr("2001:db8:1:2:ffff::9")
	if d := e.Decide(r, monday10); !d.Limited {
		t.Errorf("another address of the same /64 escaped the limit: %+v", d)
	}
	r.Client = addr("2001:db8:1:3::1")
	if d := e.Decide(r, monday10); !d.Allow {
		t.Errorf("another /64 limited: %+v", d)
	}
}

// TestLimiterBoundedMemory: at most MaxClients are tracked, and idle ones
// are dropped as requests pass.
func TestLimiterBoundedMemory(t *testing.T) {
	e := newEngine(t, Options{Limits: Limits{Rate: 10, MaxClients: 50, Idle: "1m"}})
	now := monday10
	for i := range 1000 {
		r := client()
		r.Client = addr(fmt.Sprintf("10.0.%d.%d", i/256, i%256))
		e.Decide(r, now)
		if n := e.Clients(); n > 50 {
			t.Fatalf("after %d clients: %d tracked, want at most 50", i+1, n)
		}
	}
	// An hour later, a few requests sweep the idle ones away.
	now = now.Add(time.Hour)
	for range 10 {
		e.Decide(client(), now)
	}
	if n := e.Clients(); n != 1 {
		t.Errorf("idle clients kept: %d tracked, want 1", n)
	}
}

// TestBandwidth with synctest's clock: one client's streams share its
// budget, in both directions and across flows; a cancelled context ends
// the wait.
func TestBandwidth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(t, Options{Limits: Limits{Bandwidth: "64KiB"}})
		d := e.Decide(client(), time.Now())
		if d.Bandwidth == nil || d.Bandwidth.Burst() < 64<<10 {
			t.Fatalf("Bandwidth = %v", d.Bandwidth)
		}
		if other := e.Decide(client(), time.Now()); other.Bandwidth != d.Bandwidth {
			t.Fatal("two requests of one client got different limiters")
		}
		ctx := context.Background()
		start := time.Now()
		// 64 KiB of burst, then 3 × 64 KiB at 64 KiB/s: 3 s.
		n, err := io.Copy(io.Discard, LimitReader(ctx, d.Bandwidth, bytes.NewReader(make([]byte, 256<<10))))
		if err != nil || n != 256<<10 {
			t.Fatalf("copy: %d, %v", n, err)
		}
		if took := time.Since(start); took < 3*time.Second || took > 3100*time.Millisecond {
			t.Errorf("256 KiB through a reader at 64 KiB/s took %v, want 3s", took)
		}
		// The writer draws on the same budget, which is now empty.
		start = time.Now()
		var sink bytes.Buffer
		w := LimitWriter(ctx, d.Bandwidth, &sink)
		if n, err := w.Write(make([]byte, 128<<10)); n != 128<<10 || err != nil {
			t.Fatalf("write: %d, %v", n, err)
		}
		if took := time.Since(start); took < 2*time.Second || took > 2100*time.Millisecond {
			t.Errorf("128 KiB through a writer at 64 KiB/s took %v, want 2s", took)
		}
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := w.Write(make([]byte, 1)); err != nil {
			t.Fatalf("write with the context alive: %v", err)
		}
		if _, err := LimitWriter(ctx, d.Bandwidth, &sink).Write(make([]byte, 64<<10)); !errors.Is(err, context.Canceled) {
			t.Errorf("write after cancel: %v, want context.Canceled", err)
		}
	})
}

func TestLimitNil(t *testing.T) {
	r := strings.NewReader("x")
	if LimitReader(context.Background(), nil, r) != io.Reader(r) {
		t.Error("LimitReader with a nil limiter wrapped the reader")
	}
	if d := newEngine(t, Options{}).Decide(client(), monday10); d.Bandwidth != nil {
		t.Errorf("no limit configured, Bandwidth = %v", d.Bandwidth)
	}
}
