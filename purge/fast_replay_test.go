package purge

import (
	"context"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A signed fast message captured from an earlier incarnation of the purge
// stream (deleted and recreated: sequences start again at 1) is replayed,
// by a client holding the NATS token, under the sequence the new stream
// uses next. The node applies it there (the signature verifies: it covers
// the sequence and the event, not the stream's incarnation), and the
// genuine event the stream then stores at that sequence must be applied
// too. A fresh stream and a node that has applied nothing stand for the
// recreated stream and the node reset by its gap (TestGapMarksWholeCacheStale).
// On the code before the fix the genuine event was skipped as applied,
// silently: this test failed with it missing from the applies.
func TestFastReplayAcrossStreamsCannotHideAnEvent(t *testing.T) {
	inv := &memInvalidator{}
	b := startBus(t, Options{Invalidator: inv, NATSListen: "127.0.0.1:-1"})
	nc, js := rawClient(t, b.ClientURL(), nats.Token(testNATSToken))
	old := urlEvent("old")
	if err := nc.PublishMsg(fastMsg(t, 1, old, testSigningKey)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replayed message applied at sequence 1", func() bool { return len(inv.calls()) >= 1 })

	genuineThenMarker(t, js, inv, old)
	if got := b.applied.Load(); got != 2 {
		t.Fatalf("applied sequence %d, want 2", got)
	}
}

// The same replay, applied as the node's first session has caught up
// (Start returned) but not yet made its consumer: the consumer must still
// deliver the genuine event at that sequence. On the code before the fix
// the consumer began after the applied sequence as it was when made, past
// the replayed one, so the genuine event was never delivered and was lost,
// silently; this test failed so (checked by restoring the old session),
// and TestFastReplayAcrossStreamsCannotHideAnEvent, whose replay follows
// Start at once, could fail so under load.
func TestFastReplayAtSessionStartCannotHideAnEvent(t *testing.T) {
	inv := &memInvalidator{}
	b := newBus(t, Options{Invalidator: inv, NATSListen: "127.0.0.1:-1"})
	release := holdFirstSession(t, b)
	nc, js := rawClient(t, b.ClientURL(), nats.Token(testNATSToken))
	old := urlEvent("old")
	if err := nc.PublishMsg(fastMsg(t, 1, old, testSigningKey)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replayed message applied at sequence 1", func() bool { return len(inv.calls()) >= 1 })
	release()

	genuineThenMarker(t, js, inv, old)
}

// genuineThenMarker publishes a genuine event and a marker to the stream
// (sequences 1 and 2) after the fast path applied the replayed old at 1,
// and checks that inv applied old, then the genuine event at its
// sequence, then the marker.
func genuineThenMarker(t *testing.T, js jetstream.JetStream, inv *memInvalidator, old event) {
	t.Helper()
	genuine, marker := Request{Tags: []string{"genuine"}}, Request{Tags: []string{"marker"}}
	publishSigned(t, js, genuine, marker)
	wantApplied(t, inv, old.Request, genuine, marker)
}

// publishSigned publishes each request to the stream as a node of the
// test fleet does.
func publishSigned(t *testing.T, js jetstream.JetStream, reqs ...Request) {
	t.Helper()
	for _, r := range reqs {
		if _, err := js.PublishMsg(context.Background(), signedMsg(eventData(t, r), testSigningKey)); err != nil {
			t.Fatal(err)
		}
	}
}

// wantApplied waits until inv applied the last of want, then checks that
// it applied want, in order, and nothing else.
func wantApplied(t *testing.T, inv *memInvalidator, want ...Request) {
	t.Helper()
	last := want[len(want)-1]
	waitFor(t, "the last purge applied", func() bool {
		return slices.ContainsFunc(inv.calls(), func(c applyCall) bool { return reflect.DeepEqual(c.Req, last) })
	})
	var reqs []Request
	for _, c := range inv.calls() {
		reqs = append(reqs, c.Req)
	}
	if !reflect.DeepEqual(reqs, want) {
		t.Fatalf("applied %+v, want the replayed event, then the genuine one at its sequence, then the marker: %+v", reqs, want)
	}
}

// The same replay, with the genuine event stored before a new session
// begins and after the last one ended without delivering it (here its
// server died as it began): the stream then holds nothing beyond the
// applied sequence, so no gap shows, and a consumer starting after the
// applied sequence never delivered the genuine event. On the code before
// the fix this test failed with it missing.
func TestFastReplayAcrossSessionsCannotHideAnEvent(t *testing.T) {
	dir, port := t.TempDir(), freePort(t)
	s := startServer(t, dir, port)
	inv := &memInvalidator{}
	b := newBus(t, Options{Invalidator: inv, NATSURL: s.ClientURL()})
	release := holdFirstSession(t, b)
	nc, js := rawClient(t, s.ClientURL(), nats.Token(testNATSToken))
	old := urlEvent("old")
	if err := nc.PublishMsg(fastMsg(t, 1, old, testSigningKey)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replayed message applied at sequence 1", func() bool { return len(inv.calls()) >= 1 })
	genuine := Request{Tags: []string{"genuine"}}
	publishSigned(t, js, genuine)
	s.Shutdown()
	s.WaitForShutdown()
	waitFor(t, "the bus disconnected", func() bool { return !b.nc.IsConnected() })
	release() // the first session fails making its consumer
	s = startServer(t, dir, port)

	_, js = rawClient(t, s.ClientURL(), nats.Token(testNATSToken))
	marker := Request{Tags: []string{"marker"}}
	publishSigned(t, js, marker)
	wantApplied(t, inv, old.Request, genuine, marker)
}

// holdFirstSession starts b and holds its first session once it is ready
// (Start has returned), before it makes its consumer, until the returned
// release is called (at cleanup at the latest).
func holdFirstSession(t *testing.T, b *Bus) (release func()) {
	t.Helper()
	atStart, resume := make(chan struct{}), make(chan struct{})
	var held, resumed sync.Once
	b.sessionHook = func() { held.Do(func() { close(atStart); <-resume }) }
	release = func() { resumed.Do(func() { close(resume) }) }
	t.Cleanup(release) // before the bus's Close, which waits for the session
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	select {
	case <-atStart:
	case <-ctx.Done():
		t.Fatal("the first session never got ready")
	}
	return release
}
