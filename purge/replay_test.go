package purge

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"edged/internal/logtest"
)

// capture subscribes a plain client to subject and returns a function
// that waits for the next message on it.
func capture(t *testing.T, nc *nats.Conn, subject string) func() *nats.Msg {
	t.Helper()
	sub, err := nc.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return func() *nats.Msg {
		t.Helper()
		msg, err := sub.NextMsg(20 * time.Second)
		if err != nil {
			t.Fatalf("capturing on %s: %v", subject, err)
		}
		return msg
	}
}

// copyMsg is msg as a client that captured it publishes it again, with
// hdr changed ("" removes a field).
func copyMsg(msg *nats.Msg, hdr ...string) *nats.Msg {
	c := &nats.Msg{Subject: msg.Subject, Data: slices.Clone(msg.Data), Header: nats.Header{}}
	for k, v := range msg.Header {
		c.Header[k] = slices.Clone(v)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			c.Header.Del(hdr[i])
		} else {
			c.Header.Set(hdr[i], hdr[i+1])
		}
	}
	return c
}

// A client that may publish on the bus (it holds the NATS token, not the
// signing key) captures a signed "purge all" and publishes it again: as
// captured (JetStream drops it: the stream has its message ID), without
// its message ID, with another one, and an event signed an hour ago as
// captured then. No node applies any copy: each is counted as a replay
// and its sequence recorded, and purges go on in order. On the code before
// the fix every node applied the three stored copies: three more purges of
// everything.
func TestReplayedEventsAreRejectedByEveryBus(t *testing.T) {
	invs := []*memInvalidator{{}, {}}
	a := startBus(t, Options{Invalidator: invs[0], NATSListen: "127.0.0.1:-1", Node: "a"})
	buses := []*Bus{a, startBus(t, Options{Invalidator: invs[1], NATSURL: a.ClientURL(), Node: "b"})}
	nc, js := rawClient(t, a.ClientURL(), nats.Token(testNATSToken))
	next := capture(t, nc, "edged.purge")

	all := Request{All: true}
	if _, err := a.Publish(context.Background(), all); err != nil {
		t.Fatal(err)
	}
	captured := next()

	ctx := context.Background()
	ack, err := js.PublishMsg(ctx, copyMsg(captured))
	if err != nil || !ack.Duplicate {
		t.Fatalf("the exact copy: %+v, %v; want it dropped as a duplicate", ack, err)
	}
	old := event{ID: newID(), Node: "a", Time: time.Now().Add(-time.Hour).UTC(), Request: all}
	for i, m := range []*nats.Msg{
		copyMsg(captured, jetstream.MsgIDHeader, ""),
		copyMsg(captured, jetstream.MsgIDHeader, newID()),
		signedMsg(eventData1(t, old), testSigningKey),
	} {
		if ack, err := js.PublishMsg(ctx, m); err != nil || ack.Duplicate {
			t.Fatalf("replay %d: %+v, %v; want it stored", i, ack, err)
		}
	}
	after := Request{Tags: []string{"after"}}
	res, err := buses[1].Publish(ctx, after)
	if err != nil || res.Seq != 5 {
		t.Fatalf("Publish after the replays = %+v, %v; want seq 5", res, err)
	}
	want := []applyCall{{1, all}, {2, Request{}}, {3, Request{}}, {4, Request{}}, {5, after}}
	for n, inv := range invs {
		waitFor(t, fmt.Sprintf("node %d reaches seq 5", n), func() bool { got, _ := inv.Applied(); return got == 5 })
		if got := inv.calls(); !reflect.DeepEqual(got, want) {
			t.Errorf("node %d calls = %+v\nwant %+v (replays only record their sequence)", n, got, want)
		}
		if got := testutil.ToFloat64(buses[n].metrics.rejected.WithLabelValues("replayed")); got != 3 {
			t.Errorf("node %d rejected{replayed} = %v, want 3", n, got)
		}
		if got := testutil.ToFloat64(buses[n].metrics.keyMismatch); got != 0 {
			t.Errorf("node %d reports a key mismatch for replays", n)
		}
	}
}

// eventData1 is ev as published.
func eventData1(t testing.TB, ev event) []byte {
	t.Helper()
	data, err := encodeEvent(ev)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// A node that was down while purges were made applies them all when it
// comes back, however long ago the stream stored them: the replay check
// compares the stream's stored time with the signed one, never with the
// node's clock. The window is shortened here (to 50 ms, or twice the
// longest a publish of the test took from signing to storing, as a loaded
// machine may take longer: each event must pass the check on its own), and
// the node comes back four windows after the last event was stored.
func TestCatchUpAppliesEventsOlderThanTheReplayWindow(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, -1)
	a := startBus(t, Options{NATSURL: s.ClientURL(), Node: "a"})
	inv := &memInvalidator{}
	seqs := publishN(t, a, 3, "before")
	window, lastStored := storedSpread(t, a, seqs)

	b := newBus(t, Options{NATSURL: s.ClientURL(), Invalidator: inv, Node: "b"})
	b.replayWindow = window
	t.Logf("replay window %v", window)
	// The passing of time is the point: the events must be older than the
	// window by the wall clock the NATS server stamps them with.
	time.Sleep(time.Until(lastStored.Add(4 * b.replayWindow)))
	started(t, b)
	if got, want := inv.seqs(), []uint64{1, 2, 3}; !reflect.DeepEqual(got, want) {
		t.Fatalf("applied %v after catching up, want %v", got, want)
	}
	for _, c := range inv.calls() {
		if len(c.Req.URLs) != 1 {
			t.Fatalf("applied %+v: an event was rejected", c)
		}
	}
	if got := testutil.ToFloat64(b.metrics.rejected.WithLabelValues("replayed")); got != 0 {
		t.Fatalf("rejected{replayed} = %v, want 0", got)
	}
}

// storedSpread reads the events seqs back from b's stream and returns a
// replay window that each of them passes with room to spare (twice the
// largest gap between its signed and stored times, at least 50 ms), and
// the latest stored time.
func storedSpread(t *testing.T, b *Bus, seqs []uint64) (window time.Duration, last time.Time) {
	t.Helper()
	stream, err := b.js.Stream(context.Background(), b.opts.Stream)
	if err != nil {
		t.Fatal(err)
	}
	window = 50 * time.Millisecond
	for _, seq := range seqs {
		msg, err := stream.GetMsg(context.Background(), seq)
		if err != nil {
			t.Fatalf("event %d: %v", seq, err)
		}
		var st eventStamp
		if err := json.Unmarshal(msg.Data, &st); err != nil {
			t.Fatalf("event %d: %v", seq, err)
		}
		window = max(window, 2*msg.Time.Sub(st.Time).Abs())
		if msg.Time.After(last) {
			last = msg.Time
		}
	}
	return window, last
}

// The early announcement of a purge, captured and sent again within its
// 30 s, hides nothing again on a node that has applied the purge, however
// many purges it applied since. On the code before the fix a node
// remembered only the last 1,024 IDs it unhid: after 1,100 more purges
// the copy hid the purge's URL a second time.
func TestReplayedEarlyAnnouncementHidesNothing(t *testing.T) {
	s := startServer(t, t.TempDir(), -1)
	// The peer's first apply waits for its hide: it handles the
	// announcement and the ordered apply on different goroutines, and a
	// loaded machine (-race, other processes) ran the apply first now and
	// then, so the announcement came as a repeat and hid nothing.
	pub, peer := &hidingInvalidator{}, &hidingInvalidator{hid: make(chan struct{})}
	a := startBus(t, Options{NATSURL: s.ClientURL(), Invalidator: pub, Node: "a"})
	b := startBus(t, Options{NATSURL: s.ClientURL(), Invalidator: peer, Node: "b"})
	nc, js := rawClient(t, s.ClientURL(), nats.Token(testNATSToken))
	next := capture(t, nc, "edged.purge.early")

	url := "http://www.example.com/replayed"
	if _, err := a.Publish(context.Background(), Request{URLs: []string{url}}); err != nil {
		t.Fatal(err)
	}
	captured := next()
	waitFor(t, "the peer's apply", func() bool { return peer.has("apply " + url) })

	// 1,100 more purges, as a busy fleet makes them in a few seconds.
	const more = 1100
	var last jetstream.PubAckFuture
	for i := range more {
		ev := event{ID: newID(), Node: "a", Time: time.Now().UTC(), Request: Request{Tags: []string{fmt.Sprint("t", i)}}}
		f, err := js.PublishMsgAsync(signedMsg(eventData1(t, ev), testSigningKey))
		if err != nil {
			t.Fatal(err)
		}
		last = f
	}
	select {
	case <-last.Ok():
	case err := <-last.Err():
		t.Fatal(err)
	case <-time.After(20 * time.Second):
		t.Fatal("no acknowledgement of the last purge")
	}
	waitFor(t, "the peer's applies", func() bool { got, _ := peer.Applied(); return got == more+1 })

	if err := nc.PublishMsg(copyMsg(captured)); err != nil {
		t.Fatal(err)
	}
	// The subscription handles messages in order: once the marker is
	// hidden, the copy was handled.
	marker := urlEvent("marker")
	if err := nc.PublishMsg(earlyMsg(t, marker, testSigningKey)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the marker's hide", func() bool { return peer.has("hide http://www.example.com/marker") })
	hides := 0
	for _, e := range peer.events() {
		if e == "hide "+url {
			hides++
		}
	}
	if hides != 1 {
		t.Fatalf("the peer hid %s %d times, want once: the replayed announcement hid it again", url, hides)
	}
	if got := testutil.ToFloat64(b.metrics.early.WithLabelValues("repeated")); got < 1 {
		t.Errorf("early{repeated} = %v, want the copy counted", got)
	}
}

// A stream whose duplicate window is under twice the replay window lets a
// copy made soon after its original through: the node says so at start,
// once, and not for the default stream.
func TestShortDuplicateWindowWarns(t *testing.T) {
	for _, tt := range []struct {
		retention time.Duration
		warns     bool
	}{{30 * time.Second, true}, {0, false}} {
		logs := &logtest.Buffer{}
		startBus(t, Options{Retention: tt.retention, Logger: debugLogger(logs)})
		if got := strings.Count(logs.String(), "deduplicates message ids for less than"); got != map[bool]int{true: 1, false: 0}[tt.warns] {
			t.Errorf("retention %v: warned %d times, want warns=%v", tt.retention, got, tt.warns)
		}
	}
}

// A fast-path message signed long ago (captured from an earlier
// incarnation of the stream, whose sequences the new one reuses) is not
// applied from the fast path, even at the sequence the node needs next;
// the stream's event there is what counts. On the code before the fix
// the old event was applied at sequence 1.
func TestOldFastMessageIsNotApplied(t *testing.T) {
	inv, send := fastOnlyBus(t)
	old := urlEvent("old")
	old.Time = time.Now().Add(-time.Hour)
	send(fastMsg(t, 1, old, testSigningKey))
	// The subscription handles messages in order: once the marker is
	// applied, the old message was handled.
	marker := urlEvent("marker")
	send(fastMsg(t, 1, marker, testSigningKey))
	waitFor(t, "the marker applied", func() bool { return len(inv.calls()) >= 1 })
	if got := inv.calls(); len(got) != 1 || !slices.Equal(got[0].Req.URLs, marker.Request.URLs) {
		t.Fatalf("applied %+v, want only the marker at sequence 1", got)
	}
}
