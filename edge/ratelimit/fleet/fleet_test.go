package fleet

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"edged/edge/ratelimit"
)

var t0 = time.Date(2024, 1, 8, 10, 0, 0, 0, time.UTC)

// connect starts an in-process NATS server (once per test) and connects
// to it.
func connect(t *testing.T, srv **server.Server) Conn {
	t.Helper()
	if *srv == nil {
		s, err := server.NewServer(&server.Options{DontListen: true, NoSigs: true, NoLog: true})
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatal("NATS not ready")
		}
		t.Cleanup(s.Shutdown)
		*srv = s
	}
	nc, err := nats.Connect("", nats.InProcessServer(*srv))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return NATS(nc)
}

func limiter(t *testing.T, burst int) *ratelimit.Limiter {
	t.Helper()
	l, err := ratelimit.New(ratelimit.Options{Rate: 0.001, Burst: burst, MaxClients: 20000, Shared: true})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func sharer(t *testing.T, conn Conn, lims map[string]*ratelimit.Limiter) *Sharer {
	t.Helper()
	s, err := New(Options{Conn: conn, Limiters: lims, Interval: 10 * time.Millisecond, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func waitApplied(t *testing.T, s *Sharer, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Applied() < n {
		if time.Now().After(deadline) {
			t.Fatalf("applied %d, want %d", s.Applied(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A node's use reaches the other node's bucket of the same route and key,
// never its own twice nor a route the other lacks; reports larger than
// one message arrive whole.
func TestShareBetweenNodes(t *testing.T) {
	var srv *server.Server
	a1, a2, b1 := limiter(t, 3), limiter(t, 3), limiter(t, 3)
	a := sharer(t, connect(t, &srv), map[string]*ratelimit.Limiter{"s /": a1, "s /only-a/": a2})
	b := sharer(t, connect(t, &srv), map[string]*ratelimit.Limiter{"s /": b1})
	ip := netip.MustParseAddr("192.0.2.1")
	for range 2 {
		a1.Allow(ip, t0)
		a2.Allow(ip, t0)
	}
	waitApplied(t, b, 2)
	if ok, _ := b1.Allow(ip, t0); !ok {
		t.Error("b: the budget's last token refused")
	}
	if ok, _ := b1.Allow(ip, t0); ok {
		t.Error("b: admitted past the budget a and b share")
	}
	waitApplied(t, a, 1)
	// a took b's one request, never its own two again.
	if ok, _ := a1.Allow(ip, t0); ok {
		t.Error("a: admitted past the shared budget")
	}
	if got := a.Applied(); got != 1 {
		t.Errorf("a applied %d, want 1 (b's request only)", got)
	}

	// More keys than one message holds.
	for i := range maxUsesPerMessage + 10 {
		a1.AllowKey(ratelimit.KindHeader, fmt.Sprint("client-", i), t0)
	}
	waitApplied(t, b, 2+maxUsesPerMessage+10)
	if ok, _ := b1.AllowKey(ratelimit.KindHeader, "client-4005", t0.Add(time.Nanosecond)); !ok {
		t.Error("b refused a client with budget left")
	}
}
