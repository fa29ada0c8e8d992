package purge

import (
	"context"
	"reflect"
	"strconv"
	"testing"

	"github.com/nats-io/nats.go"
)

// TestUnsignedFastPathCannotTakeASequence: on a bus without a signing key
// (events unsigned, accepted from the stream), a client holding the NATS
// token sends on the core fast subject a harmless event under the stream's
// next sequence. The fast path must not apply it: had it done so, the
// genuine event the stream then stores at that sequence would be skipped
// as already applied, silently, with no gap counted. Without a key nothing
// authenticates a fast message's claim to a sequence, so the fast path is
// off; the stream path, which takes its sequence from JetStream itself, is
// unchanged.
func TestUnsignedFastPathCannotTakeASequence(t *testing.T) {
	inv := &memInvalidator{}
	b := startRawBus(t, Options{Invalidator: inv, NATSListen: "127.0.0.1:-1", AllowUnauthenticatedNATS: true})
	nc, js := rawClient(t, b.ClientURL())
	before := b.nc.Stats().InMsgs
	forged := append([]byte(strconv.FormatUint(b.applied.Load()+1, 10)+"\n"), eventData(t, Request{Tags: []string{"harmless"}})...)
	if err := nc.PublishMsg(&nats.Msg{Subject: "edged.purge.fast", Data: forged}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// The bus's connection has the forged message before the genuine
	// event is even published.
	waitFor(t, "the bus received the fast message", func() bool { return b.nc.Stats().InMsgs > before })
	real := Request{Tags: []string{"real"}}
	if _, err := js.Publish(context.Background(), "edged.purge", eventData(t, real)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "sequence 1 applied", func() bool { return len(inv.calls()) >= 1 })
	if got := inv.calls()[0]; !reflect.DeepEqual(got, applyCall{1, real}) {
		t.Errorf("sequence 1 applied as %+v, want the stream's event %+v: the genuine purge is lost", got, real)
	}
}
