package purge

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/nats-io/nats.go"
)

// hidingInvalidator is a memInvalidator that is also a Hider, and logs
// hides, unhides and applies by the request's first URL, in order.
type hidingInvalidator struct {
	memInvalidator
	logMu sync.Mutex
	log   []string

	// hid, when set, is closed at the first hide, and Invalidate waits
	// for it (up to 20s): a peer handles the early announcement and the
	// ordered apply on different goroutines, in either order.
	hid     chan struct{}
	hidOnce sync.Once
}

var _ Hider = (*hidingInvalidator)(nil)

func (h *hidingInvalidator) note(what string, r Request) {
	h.logMu.Lock()
	defer h.logMu.Unlock()
	url := ""
	if len(r.URLs) > 0 {
		url = r.URLs[0]
	}
	h.log = append(h.log, what+" "+url)
}

func (h *hidingInvalidator) Hide(r Request) func() {
	h.note("hide", r)
	if h.hid != nil {
		h.hidOnce.Do(func() { close(h.hid) })
	}
	return func() { h.note("unhide", r) }
}

func (h *hidingInvalidator) Invalidate(ctx context.Context, r Request, seq uint64) (int, error) {
	if h.hid != nil {
		select {
		case <-h.hid:
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Second): // the test then fails on the order
		}
	}
	n, err := h.memInvalidator.Invalidate(ctx, r, seq)
	if err == nil {
		h.note("apply", r)
	}
	return n, err
}

func (h *hidingInvalidator) events() []string {
	h.logMu.Lock()
	defer h.logMu.Unlock()
	return slices.Clone(h.log)
}

func (h *hidingInvalidator) has(what string) bool { return slices.Contains(h.events(), what) }

// earlyMsg is what a publisher sends on the early path for ev, signed
// with key.
func earlyMsg(t testing.TB, ev event, key string) *nats.Msg {
	t.Helper()
	data, err := encodeEvent(ev)
	if err != nil {
		t.Fatal(err)
	}
	msg := &nats.Msg{Subject: "edged.purge.early", Data: data}
	newSigner(key).signAs(earlyContext, msg)
	return msg
}

// Issue 18: a purge takes effect on every node before JetStream
// acknowledges it. Here there is no JetStream at all, so no
// acknowledgement ever comes: the second node hides the purge from the
// early announcement alone (on the code before the early path it never
// did). A message without a valid early signature (unsigned, another
// fleet's key, an event signature replayed on the early subject, content
// changed after signing) or older than the hide timeout hides nothing.
func TestEarlyHideBeforeTheAcknowledgement(t *testing.T) {
	s := startPlainServer(t, -1)
	start := func(inv Invalidator) *Bus {
		b := newBus(t, Options{NATSURL: s.ClientURL(), Invalidator: inv, Node: fmt.Sprintf("%p", inv)})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = b.Start(ctx) // no JetStream: it never catches up, and says so
		return b
	}
	pub, peer := &hidingInvalidator{}, &hidingInvalidator{}
	a, b := start(pub), start(peer)

	if _, err := a.Publish(context.Background(), Request{URLs: []string{"http://www.example.com/p"}}); err == nil {
		t.Fatal("Publish succeeded without JetStream")
	}
	waitFor(t, "the peer's hide", func() bool { return peer.has("hide http://www.example.com/p") })
	if got := b.heldHides(); got != 1 {
		t.Fatalf("peer holds %d hides, want 1", got)
	}
	// The publisher hid it at once and, as nothing was stored, dropped it.
	if got, want := pub.events(), []string{"hide http://www.example.com/p", "unhide http://www.example.com/p"}; !slices.Equal(got, want) {
		t.Fatalf("publisher: %v, want %v", got, want)
	}

	send := rawSender(t, s.ClientURL())
	send(earlyMsg(t, urlEvent("unsigned"), ""))
	send(earlyMsg(t, urlEvent("other-key"), "another fleet's key"))
	asEvent := earlyMsg(t, urlEvent("event-signature"), "")
	newSigner(testSigningKey).sign(asEvent) // signed as a stream event, not as an early one
	send(asEvent)
	changed := earlyMsg(t, urlEvent("signed"), testSigningKey)
	changed.Data = []byte(string(changed.Data[:len(changed.Data)-3]) + `ed"]}}`)
	send(changed)
	old := urlEvent("old")
	old.Time = time.Now().Add(-2 * hideTimeout)
	send(earlyMsg(t, old, testSigningKey))
	// The subscription handles messages in order: once the marker is
	// hidden, every message above was seen.
	send(earlyMsg(t, urlEvent("marker"), testSigningKey))
	waitFor(t, "the marker's hide", func() bool { return peer.has("hide http://www.example.com/marker") })
	if got, want := peer.events(), []string{"hide http://www.example.com/p", "hide http://www.example.com/marker"}; !slices.Equal(got, want) {
		t.Fatalf("peer: %v, want %v", got, want)
	}
}

// The hide is dropped once the ordered apply of the same event is done,
// never before it, and an early copy arriving after that apply hides
// nothing. The peer may get the early announcement after the ordered
// apply (they come on different subscriptions; under load that happened,
// and it then rightly hid nothing): its applies wait for its hide, so that
// the order checked here is the one the test means.
func TestEarlyHideDroppedByTheOrderedApply(t *testing.T) {
	s := startServer(t, t.TempDir(), -1)
	pub, peer := &hidingInvalidator{}, &hidingInvalidator{hid: make(chan struct{})}
	a := startBus(t, Options{NATSURL: s.ClientURL(), Invalidator: pub, Node: "a"})
	b := startBus(t, Options{NATSURL: s.ClientURL(), Invalidator: peer, Node: "b"})
	url := "http://www.example.com/x"
	res, err := a.Publish(context.Background(), Request{URLs: []string{url}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"hide " + url, "apply " + url, "unhide " + url}
	waitFor(t, "the peer's apply and unhide", func() bool { return len(peer.events()) >= 3 })
	for name, inv := range map[string]*hidingInvalidator{"publisher": pub, "peer": peer} {
		if got := inv.events(); !slices.Equal(got, want) {
			t.Fatalf("%s: %v, want %v", name, got, want)
		}
	}
	if a.heldHides() != 0 || b.heldHides() != 0 {
		t.Fatalf("hides held after the apply: %d, %d", a.heldHides(), b.heldHides())
	}
	// A late early copy of an applied event is ignored.
	b.hide(event{ID: res.ID, Request: Request{URLs: []string{url + "/late"}}})
	if peer.has("hide " + url + "/late") {
		t.Fatal("an early copy arriving after the ordered apply hid its purge again")
	}
}

// A hide with no ordered apply is dropped after hideTimeout, and at most
// maxHides are held: over that, a hide is skipped.
func TestEarlyHideTimeoutAndBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		inv := &hidingInvalidator{}
		b := newBus(t, Options{NATSURL: "nats://127.0.0.1:1", Invalidator: inv})
		for i := range maxHides + 1 {
			b.hide(urlEvent(fmt.Sprint(i)))
		}
		if got := b.heldHides(); got != maxHides {
			t.Fatalf("held %d hides, want the bound %d", got, maxHides)
		}
		if inv.has(fmt.Sprintf("hide http://www.example.com/%d", maxHides)) {
			t.Fatal("a hide over the bound was made")
		}
		time.Sleep(hideTimeout - time.Second)
		synctest.Wait()
		if got := b.heldHides(); got != maxHides {
			t.Fatalf("held %d hides before the timeout, want %d", got, maxHides)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if got := b.heldHides(); got != 0 {
			t.Fatalf("held %d hides after the timeout, want 0", got)
		}
		if !inv.has("unhide http://www.example.com/0") {
			t.Fatal("the timeout did not unhide")
		}
	})
}

// The record of seen announcements: an ID is seen once while its
// announcement lives, forgotten once it expired (onEarly then refuses a
// copy as too old), and at most maxSeen are kept, the oldest going first.
func TestSeenAnnouncements(t *testing.T) {
	now := time.Now()
	hs := hides{seen: make(map[string]time.Time)}
	ev := event{ID: "a", Time: now}
	if !hs.see(ev, now) || hs.see(ev, now.Add(hideTimeout)) {
		t.Fatal("an announcement was not new the first time, or new again within its 30 s")
	}
	if !hs.see(ev, now.Add(hideTimeout+time.Second)) || len(hs.seen) != 0 {
		t.Fatalf("an expired announcement is still remembered (%d held)", len(hs.seen))
	}
	for i := range maxSeen + 10 {
		hs.see(event{ID: fmt.Sprint(i), Time: now}, now)
	}
	if len(hs.seen) > maxSeen+1 {
		t.Fatalf("%d IDs remembered, want at most %d", len(hs.seen), maxSeen+1)
	}
	if hs.see(event{ID: fmt.Sprint(maxSeen + 9), Time: now}, now) {
		t.Fatal("the newest ID was forgotten")
	}
}
