package ratelimit

import (
	"errors"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"edged/internal/fielderr/fieldtest"
)

var t0 = time.Date(2024, 1, 8, 10, 0, 0, 0, time.UTC)

func mustNew(tb testing.TB, o Options) *Limiter {
	tb.Helper()
	l, err := New(o)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return l
}

func TestAllowBurstThenRetryAfter(t *testing.T) {
	l := mustNew(t, Options{Rate: 2, Burst: 3, MaxClients: 10})
	a := netip.MustParseAddr("192.0.2.1")
	type step struct {
		at        time.Duration // since t0, the fake clock
		wantOK    bool
		wantRetry time.Duration
	}
	steps := []step{
		{0, true, 0}, {0, true, 0}, {0, true, 0}, // the burst
		{0, false, 500 * time.Millisecond}, // empty: one token every 1/Rate
		{0, false, 500 * time.Millisecond}, // refusals do not deepen the debt
		{400 * time.Millisecond, false, 100 * time.Millisecond},
		{500 * time.Millisecond, true, 0}, // refilled one token
		{500 * time.Millisecond, false, 500 * time.Millisecond},
		{10 * time.Second, true, 0}, // long idle: back to a full burst, no more
		{10 * time.Second, true, 0},
		{10 * time.Second, true, 0},
		{10 * time.Second, false, 500 * time.Millisecond},
	}
	for i, s := range steps {
		ok, retry := l.Allow(a, t0.Add(s.at))
		// rate computes in float64 seconds: allow a microsecond of rounding.
		if ok != s.wantOK || (retry-s.wantRetry).Abs() > time.Microsecond {
			t.Errorf("step %d at +%v: Allow = (%v, %v), want (%v, %v)", i, s.at, ok, retry, s.wantOK, s.wantRetry)
		}
	}
}

func TestClientsAreIndependent(t *testing.T) {
	l := mustNew(t, Options{Rate: 1, Burst: 1, MaxClients: 100})
	tests := []struct {
		name   string
		client string
		want   bool
	}{
		{"first client", "192.0.2.1", true},
		{"first client again", "192.0.2.1", false},
		{"IPv4-mapped is the same client", "::ffff:192.0.2.1", false},
		{"second client", "192.0.2.2", true},
		{"IPv6 client", "2001:db8:1:2::1", true},
		{"same /64 is the same client", "2001:db8:1:2::ffff", false},
		{"other /64", "2001:db8:1:3::1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ok, _ := l.Allow(netip.MustParseAddr(tt.client), t0); ok != tt.want {
				t.Errorf("Allow(%s) = %v, want %v", tt.client, ok, tt.want)
			}
		})
	}
}

func TestIPv6PrefixLen128(t *testing.T) {
	l := mustNew(t, Options{Rate: 1, Burst: 1, IPv6PrefixLen: 128})
	for _, c := range []string{"2001:db8::1", "2001:db8::2"} {
		if ok, _ := l.Allow(netip.MustParseAddr(c), t0); !ok {
			t.Errorf("Allow(%s) = false, want true (tracked per address)", c)
		}
	}
}

func TestLRUEvictsLeastRecentlyUsed(t *testing.T) {
	l := mustNew(t, Options{Rate: 1, Burst: 1, MaxClients: 2})
	a, b, c := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3")
	l.Allow(a, t0)
	l.Allow(b, t0)
	l.Allow(a, t0) // a is now the most recent
	l.Allow(c, t0) // evicts b
	if got := l.Len(); got != 2 {
		t.Fatalf("Len = %d, want 2", got)
	}
	if ok, _ := l.Allow(a, t0); ok {
		t.Errorf("a was evicted, want it kept (recently used) with its empty bucket")
	}
	if ok, _ := l.Allow(b, t0); !ok {
		t.Errorf("b kept its empty bucket, want it evicted and back with a full one")
	}
}

// TestBoundedMemory: a flood of distinct addresses never grows the tracked
// set beyond MaxClients.
func TestBoundedMemory(t *testing.T) {
	const maxClients = 10_000
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	l := mustNew(t, Options{Rate: 10, Burst: 5, MaxClients: maxClients})
	for i := range n {
		// Distinct IPv4 addresses, then distinct IPv6 /64s.
		var a netip.Addr
		if i%2 == 0 {
			a = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		} else {
			a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)})
		}
		if ok, _ := l.Allow(a, t0); !ok {
			t.Fatalf("fresh client %s refused", a)
		}
		if i%50_000 == 0 {
			if got := l.Len(); got > maxClients {
				t.Fatalf("after %d clients Len = %d, want <= %d", i+1, got, maxClients)
			}
		}
	}
	if got := l.Len(); got != maxClients {
		t.Errorf("Len = %d, want %d (full, not beyond)", got, maxClients)
	}
}

func TestNewErrorsNameTheField(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		field string
	}{
		{"zero rate", Options{Burst: 1}, "Rate"},
		{"negative rate", Options{Rate: -1, Burst: 1}, "Rate"},
		{"zero burst", Options{Rate: 1}, "Burst"},
		{"negative max clients", Options{Rate: 1, Burst: 1, MaxClients: -1}, "MaxClients"},
		{"prefix too long", Options{Rate: 1, Burst: 1, IPv6PrefixLen: 129}, "IPv6PrefixLen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), tt.field+":") {
				t.Errorf("New err = %v, want ErrInvalidOptions naming %s", err, tt.field)
			}
		})
	}
}

func BenchmarkAllow(b *testing.B) {
	for _, bc := range []struct {
		name    string
		clients int
	}{
		{"1-client", 1},
		{"1k-clients", 1_000},
		{"churn-100k-over-10k", 100_000},
	} {
		l := mustNew(b, Options{Rate: 1e9, Burst: 1 << 20, MaxClients: 10_000})
		addrs := make([]netip.Addr, bc.clients)
		for i := range addrs {
			addrs[i] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				l.Allow(addrs[i%len(addrs)], t0)
				i++
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	fieldtest.Run(t, func() Options {
		o := DefaultOptions()
		o.Rate, o.Burst = 1, 1
		return o
	}, []fieldtest.Case[Options]{
		{Path: "Rate", Bad: func(o *Options) { o.Rate = 0 }},
		{Path: "Rate", Bad: func(o *Options) { o.Rate = math.Inf(1) }},
		{Path: "Burst", Bad: func(o *Options) { o.Burst = 0 }},
		{Path: "Burst", Bad: func(o *Options) { o.Burst = -1 }},
		{Path: "MaxClients", Bad: func(o *Options) { o.MaxClients = -1 }},
		{Path: "IPv6PrefixLen", Bad: func(o *Options) { o.IPv6PrefixLen = 0 }},
		{Path: "IPv6PrefixLen", Bad: func(o *Options) { o.IPv6PrefixLen = 129 }},
	})
}

// Named keys have their own buckets: per kind, and apart from addresses.
func TestAllowKeyKinds(t *testing.T) {
	l := mustNew(t, Options{Rate: 1, Burst: 1, MaxClients: 100})
	long := strings.Repeat("x", 200)
	for i, k := range []struct {
		kind Kind
		name string
	}{{KindSubject, "alice"}, {KindAPIKey, "alice"}, {KindHeader, "alice"}, {KindSubject, "bob"}, {KindHeader, long}, {KindHeader, long + "y"}} {
		if ok, _ := l.AllowKey(k.kind, k.name, t0); !ok {
			t.Errorf("key %d: first request refused", i)
		}
		if ok, retry := l.AllowKey(k.kind, k.name, t0); ok || retry != time.Second {
			t.Errorf("key %d: second request (%v, %v), want refused for 1s", i, ok, retry)
		}
	}
	if ok, _ := l.Allow(netip.MustParseAddr("192.0.2.1"), t0); !ok {
		t.Error("an address shares a named key's bucket")
	}
}

// A shared limiter reports what it admitted, once; Consume spends another
// node's use from the same key's bucket, down to one burst of debt.
func TestUsageAndConsume(t *testing.T) {
	a := mustNew(t, Options{Rate: 1, Burst: 4, MaxClients: 100, Shared: true})
	b := mustNew(t, Options{Rate: 1, Burst: 4, MaxClients: 100, Shared: true})
	ip := netip.MustParseAddr("2001:db8::1")
	for range 3 {
		a.Allow(ip, t0)
		a.AllowKey(KindSubject, "alice", t0)
	}
	a.AllowKey(KindSubject, "alice", t0.Add(time.Millisecond)) // 4th
	use := a.TakeUsage()
	if len(use) != 2 {
		t.Fatalf("usage %v, want 2 keys", use)
	}
	if again := a.TakeUsage(); len(again) != 0 {
		t.Errorf("usage reported twice: %v", again)
	}
	for _, u := range use {
		b.Consume(u.Key, u.N, t0)
	}
	// b's buckets: address 4-3 = 1 left, alice 4-4 = 0 left.
	if ok, _ := b.Allow(netip.MustParseAddr("2001:db8::2"), t0); !ok { // same /64
		t.Error("address: the one token left was refused")
	}
	if ok, _ := b.Allow(ip, t0); ok {
		t.Error("address: admitted past the shared budget")
	}
	if ok, retry := b.AllowKey(KindSubject, "alice", t0); ok || retry != time.Second {
		t.Errorf("alice: (%v, %v), want refused for 1s", ok, retry)
	}
	// Debt is capped at one burst: a huge report waits at most 2 bursts.
	b.Consume(use[0].Key, 1000, t0)
	b.Consume(use[1].Key, 1000, t0)
	if _, retry := b.AllowKey(KindSubject, "alice", t0); retry > 5*time.Second {
		t.Errorf("alice after a huge report waits %v, want at most 5s", retry)
	}
	if u := b.TakeUsage(); len(u) != 1 || u[0].N != 1 {
		t.Errorf("b reported %v, want only its own admission", u)
	}
	for _, bad := range []string{"", "z", "\x00short", "s" + strings.Repeat("x", 65)} {
		b.Consume(bad, 1, t0) // ignored, no panic
	}
	if unshared := mustNew(t, Options{Rate: 1, Burst: 1, MaxClients: 10}); unshared.Shared() || unshared.TakeUsage() != nil {
		t.Error("an unshared limiter counts its use")
	}
}
