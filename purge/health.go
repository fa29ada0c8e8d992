package purge

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// Health is the state of a node's purge bus, for /healthz and operators.
type Health struct {
	// Connected is true while the bus holds a connection to NATS.
	Connected bool
	// Server names the NATS server the bus is connected to: its URL
	// (credentials removed) and, on a cluster, its server name; "" when
	// disconnected, "in-process" for the embedded server.
	Server string
	// Reconnects counts the connections made again after one was lost,
	// since Start.
	Reconnects uint64
	// Applied is the stream sequence of the last purge applied here.
	Applied uint64
	// StreamLast is the last sequence of the purge stream as last seen
	// (0 before the stream was reached).
	StreamLast uint64
	// Behind is set when this node has trailed the stream for longer than
	// MaxLag: events published that it has not applied, or the stream out
	// of its reach (so it cannot know). It may be serving objects that
	// were purged elsewhere.
	Behind bool
	// Reason says why Behind is set ("" otherwise).
	Reason string
}

// String is the one-line summary /healthz shows.
func (h Health) String() string {
	s := "purge bus: "
	if h.Connected {
		s += "connected to " + h.Server
	} else {
		s += "disconnected"
	}
	s += fmt.Sprintf(", applied %d of stream %d, %d reconnects", h.Applied, h.StreamLast, h.Reconnects)
	return s
}

// health tracks how far this node trails the stream. The stream's last
// sequence comes from each delivered event (its sequence plus the events
// pending behind it) and from a probe of the stream's state every
// probeInterval, which also notices a stream out of reach: a node whose
// consumer quietly stopped delivering (its server cut off from the
// cluster) learns it from the probe, not from events that never come.
type health struct {
	maxLag time.Duration
	now    func() time.Time
	// appliedSeq is the bus's applied sequence, read under mu so that an
	// apply and a probe that race leave the clock as the later one sees.
	appliedSeq *atomic.Uint64

	// mu guards the fields below.
	mu          sync.Mutex
	streamLast  uint64
	reached     time.Time // when the stream last answered or delivered
	trailSince  time.Time // since when applied < streamLast; zero when caught up
	started     time.Time
	server      string
	unreachable string // why the last probe failed, "" when it answered
}

func newHealth(maxLag time.Duration, now func() time.Time, applied *atomic.Uint64) *health {
	return &health{maxLag: maxLag, now: now, appliedSeq: applied, started: now()}
}

// saw records that the stream holds events up to last, as a delivery
// tells it (an event's sequence plus the consumer's count of the events
// behind it): a hint that only raises the last sequence known.
func (h *health) saw(last uint64) {
	h.record(last, false)
}

// answered records the stream's last sequence as the stream itself
// answered it (its state, asked at a session's start and by the probe): it
// replaces whatever was known, hints included. A hint can be too high:
// the consumer's count of pending events is nats-server's running
// estimate (a counter it adjusts per message stored and delivered, and
// clamps to the stream's state in consumer info only, consumer.go
// checkNumPending), and a consumer placed on a server of the cluster that
// has just restarted and is catching the stream up reports too many:
// on a 40-event stream, the event at 31 came with 13 pending (4 too
// many). Kept as a floor, such a number never came down: a restarted node
// that had applied all 40 events said "applied 40 of stream 42" and,
// after MaxLag, that it was behind, until two more purges came
// (TestPurgeOnNATSCluster, under load;
// TestHealthTakesTheStreamsAnswerOverAHint).
func (h *health) answered(last uint64) {
	h.record(last, true)
}

func (h *health) record(last uint64, answer bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now, applied := h.now(), h.appliedSeq.Load()
	h.reached, h.unreachable = now, ""
	switch {
	case answer:
		h.streamLast = last
	case last < applied:
		// The stream was recreated below what this node applied: the
		// session will mark the cache stale and record the new sequence.
		h.streamLast = last
	default:
		h.streamLast = max(h.streamLast, last)
	}
	h.trail(applied, now)
}

// progressed records the node's progress after an apply.
func (h *health) progressed() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.trail(h.appliedSeq.Load(), h.now())
}

// trail starts or stops the clock of trailing the stream. mu held.
func (h *health) trail(applied uint64, now time.Time) {
	switch {
	case applied >= h.streamLast:
		h.trailSince = time.Time{}
	case h.trailSince.IsZero():
		h.trailSince = now
	}
}

// missed records a failed probe of the stream.
func (h *health) missed(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.unreachable = err.Error()
}

func (h *health) setServer(s string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.server = s
}

// fill completes hl with the tracked state.
func (h *health) fill(hl *Health) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	hl.Server, hl.StreamLast = h.server, h.streamLast
	if !hl.Connected {
		hl.Server = ""
	}
	reached := h.reached
	if reached.IsZero() {
		reached = h.started
	}
	switch {
	case !h.trailSince.IsZero() && now.Sub(h.trailSince) > h.maxLag:
		hl.Behind = true
		hl.Reason = fmt.Sprintf("applied sequence %d trails the stream's %d for %v (purge.max_lag %v)",
			hl.Applied, h.streamLast, now.Sub(h.trailSince).Round(time.Millisecond), h.maxLag)
	case now.Sub(reached) > h.maxLag:
		hl.Behind = true
		why := "not connected to NATS"
		if hl.Connected && h.unreachable != "" {
			why = "the stream does not answer: " + h.unreachable
		}
		hl.Reason = fmt.Sprintf("purge stream out of reach for %v (%s); purges published meanwhile are not applied here (purge.max_lag %v)",
			now.Sub(reached).Round(time.Millisecond), why, h.maxLag)
	}
}

// Health reports the bus's connection and how far this node trails the
// purge stream.
func (b *Bus) Health() Health {
	hl := Health{Applied: b.applied.Load(), Reconnects: b.reconnects.Load()}
	hl.Connected = b.nc != nil && b.nc.IsConnected()
	b.health.fill(&hl)
	return hl
}

// probeInterval is how often the bus asks the stream for its last
// sequence: a third of MaxLag, so that falling behind shows within about
// MaxLag, between 50ms and 10s (one small request per node each time; at
// 10s, a fleet of 1000 nodes asks 100 times a second).
func probeInterval(maxLag time.Duration) time.Duration {
	return min(max(maxLag/3, 50*time.Millisecond), 10*time.Second)
}

// probe asks the stream for its state every probeInterval until ctx ends.
func (b *Bus) probe(ctx context.Context) {
	t := time.NewTicker(probeInterval(b.opts.MaxLag))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !b.nc.IsConnected() {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, max(probeInterval(b.opts.MaxLag), time.Second))
		// Stream looks the stream up: its cached info is fresh.
		sent := b.opts.Now()
		s, err := b.js.Stream(pctx, b.opts.Stream)
		if err == nil {
			info := s.CachedInfo()
			b.measureClock(sent, b.opts.Now(), info.TimeStamp) // clock.go
			b.health.answered(info.State.LastSeq)
		}
		cancel()
		if err != nil && ctx.Err() == nil {
			b.health.missed(err)
		}
		b.setPending()
	}
}

// setPending exports how many events of the stream this node has not
// applied.
func (b *Bus) setPending() {
	last, applied := b.Health().StreamLast, b.applied.Load()
	if last < applied {
		last = applied
	}
	b.metrics.pending.Set(float64(last - applied))
}

// serverName names the server nc is connected to for the log, Health and
// the metrics: its URL (credentials removed) and its name in the cluster;
// "in-process" for the embedded server (nats.go would say
// nats://in-process:4222, an address nothing listens on).
func (b *Bus) serverName(nc *nats.Conn) string {
	if b.srv != nil {
		return "in-process"
	}
	s := nc.ConnectedUrlRedacted()
	if name := nc.ConnectedServerName(); name != "" {
		s += " (" + name + ")"
	}
	return s
}
