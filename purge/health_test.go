package purge

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// gatedInvalidator fails every Invalidate while failing is set, as a cache
// whose disk refuses writes does.
type gatedInvalidator struct {
	memInvalidator
	failing atomic.Bool
}

func (g *gatedInvalidator) Invalidate(ctx context.Context, r Request, seq uint64) (int, error) {
	if g.failing.Load() {
		return 0, errors.New("injected failure")
	}
	return g.memInvalidator.Invalidate(ctx, r, seq)
}

// Issue 18: a node that cannot apply what the stream holds says so in
// Health and edged_purge_behind once it has trailed for MaxLag, and stops
// saying so once it caught up. Health's clock is the test's: with MaxLag
// in real time, a loaded machine made the node behind before it had heard
// of the second event, or took a late probe for the stream out of reach.
func TestHealthBehindWhileApplyFails(t *testing.T) {
	buses, _ := threeBuses(t)
	reg := prometheus.NewRegistry()
	inv := &gatedInvalidator{}
	clock := newFakeClock()
	b := startClockedBus(t, Options{Invalidator: inv, NATSURL: buses[0].ClientURL(), Node: "slow", MaxLag: 100 * time.Millisecond, Registerer: reg}, clock)
	if h := b.Health(); h.Behind || !h.Connected || !strings.HasPrefix(h.Server, "nats://127.0.0.1:") || h.Reason != "" {
		t.Fatalf("Health at start = %+v, want connected, not behind", h)
	}
	inv.failing.Store(true)
	seqs := publishN(t, buses[1], 2, "x")
	waitFor(t, "the node to see the stream's last event", func() bool { return b.Health().StreamLast == seqs[1] })
	if h := b.Health(); h.Behind {
		t.Fatalf("Health before MaxLag passed = %+v, want not behind", h)
	}
	clock.advance(b.opts.MaxLag + time.Millisecond)
	h := b.Health()
	if !h.Behind || h.Applied != 0 || h.StreamLast != seqs[1] || !strings.Contains(h.Reason, "applied sequence 0 trails the stream's 2") {
		t.Errorf("Health while failing = %+v", h)
	}
	if got := testutil.ToFloat64(b.metrics.behind); got != 1 {
		t.Errorf("edged_purge_behind = %v, want 1", got)
	}
	if got := testutil.ToFloat64(b.metrics.streamLast); got != 2 {
		t.Errorf("edged_purge_stream_sequence = %v, want 2", got)
	}
	inv.failing.Store(false)
	waitFor(t, "caught up", func() bool { h := b.Health(); return !h.Behind && h.Applied == 2 })
	if got := testutil.ToFloat64(b.metrics.pending); got != 0 {
		t.Errorf("edged_purge_pending_events = %v, want 0", got)
	}
}

// A node whose NATS server went away cannot know what it misses: after
// MaxLag it says it is behind, and once it reconnects it counts the
// reconnect and is up to date again.
func TestHealthBehindWhileDisconnected(t *testing.T) {
	dir, port := t.TempDir(), freePort(t)
	s := startServer(t, dir, port)
	clock := newFakeClock()
	b := startClockedBus(t, Options{NATSURL: s.ClientURL(), MaxLag: 100 * time.Millisecond, Registerer: prometheus.NewRegistry()}, clock)
	publishN(t, b, 1, "before")
	s.Shutdown()
	s.WaitForShutdown()
	// nats.go drops the connection, then calls the bus's disconnect
	// handler, which drops the server's series.
	waitFor(t, "the disconnect handled", func() bool {
		return !b.nc.IsConnected() && testutil.CollectAndCount(b.metrics.server) == 0
	})
	if h := b.Health(); h.Behind {
		t.Fatalf("Health before MaxLag passed = %+v, want not behind", h)
	}
	clock.advance(b.opts.MaxLag + time.Millisecond)
	if h := b.Health(); !h.Behind || h.Connected || h.Server != "" || !strings.Contains(h.Reason, "not connected to NATS") {
		t.Errorf("Health while down = %+v", h)
	}
	startServer(t, dir, port)
	// The reconnect handler counts the reconnect, then sets the server's
	// series; the new session sees the stream.
	waitFor(t, "reconnected, not behind", func() bool {
		h := b.Health()
		return h.Connected && !h.Behind && testutil.CollectAndCount(b.metrics.server) == 1
	})
	if h := b.Health(); h.Reconnects != 1 || h.Applied != 1 || h.StreamLast != 1 {
		t.Errorf("Health after reconnect = %+v, want 1 reconnect, applied 1 of 1", h)
	}
	if got := testutil.ToFloat64(b.metrics.reconnects); got != 1 {
		t.Errorf("edged_purge_bus_reconnects_total = %v, want 1", got)
	}
}

// A delivery's hint of the stream's last sequence (the event's sequence
// plus the consumer's count of events pending behind it) can be too high:
// the count is the server's running estimate. On the cluster test under
// load a node that had applied all 40 events said "applied 40 of stream
// 42" and, kept as a floor, that would have made it behind after MaxLag
// until two more purges came. The stream's own answer to the probe
// replaces the hint: the node is caught up, and not behind.
func TestHealthTakesTheStreamsAnswerOverAHint(t *testing.T) {
	buses, _ := threeBuses(t)
	clock := newFakeClock()
	b := startClockedBus(t, Options{NATSURL: buses[0].ClientURL(), Node: "hinted", MaxLag: 150 * time.Millisecond,
		Registerer: prometheus.NewRegistry()}, clock)
	seqs := publishN(t, buses[1], 2, "x")
	waitFor(t, "both events applied", func() bool { return b.Health().Applied == seqs[1] })
	// The fault: a consumer's pending count two too high.
	b.health.saw(seqs[1] + 2)
	if h := b.Health(); h.StreamLast != seqs[1]+2 {
		t.Fatalf("Health after the hint = %+v, want stream %d", h, seqs[1]+2)
	}
	// Past MaxLag since the hint, wait, on health's own record, for a
	// probe answered then.
	clock.advance(b.opts.MaxLag + time.Millisecond)
	probed := clock.now()
	// A probe asked before the events were published may answer late (a
	// loaded machine) with an older last sequence: wait for one that saw
	// both events. With the hint kept as a floor, none ever replaces it.
	waitFor(t, "a probe to answer with the stream's last sequence", func() bool {
		b.health.mu.Lock()
		defer b.health.mu.Unlock()
		return !b.health.reached.Before(probed) && b.health.streamLast == seqs[1]
	})
	if h := b.Health(); h.Behind || h.Applied != seqs[1] || h.StreamLast != seqs[1] {
		t.Errorf("Health after the probe: applied %d of stream %d, behind %v (%s); want applied %d of stream %d, not behind",
			h.Applied, h.StreamLast, h.Behind, h.Reason, seqs[1], seqs[1])
	}
}
