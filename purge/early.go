package purge

import (
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// The early path. A purge has no place in the order every node applies
// until JetStream acknowledges it, and with the stream replicated three
// ways and fsynced that wait was most of a purge's propagation time (25
// ms at p50 on the loaded bench machine, issue 18). So the publisher also
// sends the signed event, before the publish, on the core subject
// Subject+".early" (not stored), and every node (the publisher at once,
// without the round trip) hides what it covers through the Invalidator's
// optional Hider: from then on the node does not serve those objects as
// they were (hard: a miss; soft: stale), but nothing durable is removed and
// the applied sequence does not move. The hide is dropped when the ordered
// apply of the same event (by ID) is done, which does the lasting work,
// or after hideTimeout when none comes (the publish failed): a hide costs
// only misses, never serves a purged object. At most maxHides are held at
// once; over that, a hide is skipped and the ordered apply alone applies
// the purge.
//
// The message is the event exactly as published, signed under its own
// context (earlyContext), so that a forged one hides nothing and a signed
// event cannot be replayed on the early subject with other content. An
// event older than hideTimeout (by its signed time) is not hidden, so a
// replayed message costs at most misses for the window its publisher's
// own would have. Unlike the fast path it stays on without a signing key:
// it claims no sequence, and on such a bus a client holding the NATS token
// can publish real purges anyway, whereas a hide costs only misses.

// earlyContext separates early-path signatures from the others.
const earlyContext = "edged purge early v1\n"

// hideTimeout is how long a hide waits for its ordered apply.
const hideTimeout = 30 * time.Second

// maxHides bounds the hides held at once, so a flood cannot grow memory.
const maxHides = 10_000

// maxSeen bounds the event IDs a node remembers (hides.seen). Only a
// holder of the signing key makes new ones, so the bound is reached only
// by over maxSeen purges within a minute; the oldest are forgotten then.
const maxSeen = 100_000

// Hider is what an Invalidator may also offer for the early path: Hide
// makes r take effect on lookups at once, without recording anything or
// removing anything durable, until unhide is called.
type Hider interface {
	Hide(r Request) (unhide func())
}

// hides are the early hides a node holds, by event ID, and the events it
// has seen.
type hides struct {
	mu   sync.Mutex
	byID map[string]*heldHide
	// seen holds the ID of every event hidden or applied here until its
	// announcement expires (its signed time plus hideTimeout, when
	// onEarly takes it for too old), so that a copy of it, or the
	// publisher's own echo, or one delayed past the ordered apply, hides
	// nothing again. It used to be a ring of the last 1,024 IDs unhidden:
	// on a fleet making more purges than that in 30 s, a client holding
	// the NATS token could replay an announcement and hide its purge
	// again (TestReplayedEarlyAnnouncementHidesNothing). order lists seen's
	// IDs as they came, for pruning.
	seen  map[string]time.Time
	order []seenID
}

type seenID struct {
	id      string
	expires time.Time
}

type heldHide struct {
	unhide func()
	timer  *time.Timer
}

func (b *Bus) earlySubject() string { return b.opts.Subject + ".early" }

func (b *Bus) subscribeEarly(nc *nats.Conn) error {
	if _, ok := b.opts.Invalidator.(Hider); !ok {
		return nil
	}
	return b.subscribeCore(nc, b.earlySubject(), b.onEarly)
}

// early announces ev on the early subject, signed over data (the event as
// it is published), then hides it on this node: announcing first keeps
// the local hide (a memory-tier purge, milliseconds on a loaded machine)
// off the other nodes' path. A failed send costs only the speed.
//
// nats.go only buffers a publish for its flusher goroutine: with one P
// (the bench's nodes run at GOMAXPROCS=1) the announcement is written only
// once this goroutine blocks, after the local hide. Yielding here
// (runtime.Gosched) to write it first was tried and measured in the
// clustered bench, old and new fleets alternating in one run: the other
// nodes' hides came no sooner within the noise (p50 1.8 to 2.6 ms either
// way) and the publisher's own came later (p90 1.43 against 1.05 ms), so
// it was dropped.
func (b *Bus) early(ev event, data []byte) {
	b.sendCore(b.earlySubject(), earlyContext, data, "early announcement", "id", ev.ID)
	b.hide(ev)
}

// onEarly hides an announced event whose signature verifies.
func (b *Bus) onEarly(msg *nats.Msg) {
	if reason := b.signer.verifyAs(earlyContext, msg.Header, msg.Data); reason != "" {
		b.metrics.early.WithLabelValues("rejected").Inc()
		return // the stream's copy is verified, and rejected, on its own
	}
	ev, err := decodeEvent(msg.Data)
	if err != nil {
		return // the stream's copy is applied as the safe all+soft purge
	}
	if age := b.now().Sub(ev.Time); age > hideTimeout || age < -hideTimeout {
		b.metrics.early.WithLabelValues("expired").Inc()
		return
	}
	b.hide(ev)
}

// hide hides ev until unhide(ev.ID) or hideTimeout, unless it was seen
// already (held, or applied) or maxHides are held.
func (b *Bus) hide(ev event) {
	h, ok := b.opts.Invalidator.(Hider)
	if !ok || b.closed.Load() {
		return
	}
	b.hides.mu.Lock()
	defer b.hides.mu.Unlock()
	// Held is checked apart from seen, which forgets the oldest beyond
	// maxSeen: a hide made again over a held one would never be dropped.
	if _, held := b.hides.byID[ev.ID]; held || !b.hides.see(ev, b.now()) {
		b.metrics.early.WithLabelValues("repeated").Inc()
		return
	}
	if len(b.hides.byID) >= maxHides {
		b.metrics.early.WithLabelValues("skipped").Inc()
		return
	}
	id := ev.ID
	b.hides.byID[id] = &heldHide{
		unhide: h.Hide(ev.Request),
		timer:  time.AfterFunc(hideTimeout, func() { b.unhide(id, false) }),
	}
	b.metrics.early.WithLabelValues("hidden").Inc()
	b.log.Debug("purge hidden early", "id", id, "origin", ev.Node, "lag", b.now().Sub(ev.Time))
}

// see records ev as seen at now and reports whether it is new: not seen
// before, within its announcement's life. The caller holds mu.
func (hs *hides) see(ev event, now time.Time) bool {
	for len(hs.order) > 0 && (now.After(hs.order[0].expires) || len(hs.order) > maxSeen) {
		if old := hs.order[0]; hs.seen[old.id] == old.expires {
			delete(hs.seen, old.id)
		}
		hs.order[0] = seenID{}
		hs.order = hs.order[1:]
	}
	if _, ok := hs.seen[ev.ID]; ok {
		return false
	}
	expires := ev.Time.Add(hideTimeout)
	if !now.After(expires) { // else onEarly refuses it anyway
		hs.seen[ev.ID] = expires
		hs.order = append(hs.order, seenID{ev.ID, expires})
	}
	return true
}

// appliedEarly drops the hide of ev, whose ordered apply is done, and
// remembers it, so that a later early copy of it hides nothing.
func (b *Bus) appliedEarly(ev event) {
	b.hides.mu.Lock()
	b.hides.see(ev, b.now())
	b.hides.mu.Unlock()
	b.unhide(ev.ID, true)
}

// unhide drops the hide of event id, if any. applied: its ordered apply
// is done.
func (b *Bus) unhide(id string, applied bool) {
	b.hides.mu.Lock()
	defer b.hides.mu.Unlock()
	h := b.hides.byID[id]
	if h == nil {
		return
	}
	delete(b.hides.byID, id)
	h.timer.Stop()
	h.unhide()
	if !applied {
		b.metrics.early.WithLabelValues("dropped").Inc()
	}
}

// heldHides is the number of hides held.
func (b *Bus) heldHides() int {
	b.hides.mu.Lock()
	defer b.hides.mu.Unlock()
	return len(b.hides.byID)
}

// dropHides drops every hide (Close): no ordered apply will come.
func (b *Bus) dropHides() {
	b.hides.mu.Lock()
	held := b.hides.byID
	b.hides.byID = make(map[string]*heldHide)
	b.hides.mu.Unlock()
	for _, h := range held {
		h.timer.Stop()
		h.unhide()
	}
}
