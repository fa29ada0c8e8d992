package purge

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// fastMsg is what a publisher sends on the fast path for the event ev
// stored at seq, signed with key.
func fastMsg(t testing.TB, seq uint64, ev event, key string) *nats.Msg {
	t.Helper()
	data, err := encodeEvent(ev)
	if err != nil {
		t.Fatal(err)
	}
	msg := &nats.Msg{Subject: "edged.purge.fast", Data: append([]byte(strconv.FormatUint(seq, 10)+"\n"), data...)}
	newSigner(key).signAs(fastContext, msg)
	return msg
}

func urlEvent(path string) event {
	return event{ID: newID(), Node: "peer", Time: time.Now(), Request: Request{URLs: []string{"http://www.example.com/" + path}}}
}

// Issue 18: a node applies an acknowledged purge from the fast path as
// soon as it is the next one it needs, without waiting for the stream to
// deliver it; anything else there is ignored (the stream delivers it in
// order): a later sequence, a message whose signature does not cover its
// sequence (a signed event replayed under another one), an unsigned one or
// one signed with another key. The bus here has no stream at all, so
// every apply it makes comes from the fast path: on the code before the
// fast path nothing was ever applied.
func TestFastPathAppliesOnlyTheNextSignedSequence(t *testing.T) {
	inv, send := fastOnlyBus(t)
	// The bus's subscription handles messages in order: once a marker is
	// applied, everything sent before it was seen.
	applied := func(want ...uint64) {
		t.Helper()
		waitFor(t, fmt.Sprintf("sequences %v applied", want), func() bool { return len(inv.seqs()) >= len(want) })
		if got := inv.seqs(); !slices.Equal(got, want) {
			t.Fatalf("applied %v, want %v", got, want)
		}
	}

	send(fastMsg(t, 2, urlEvent("early"), testSigningKey)) // not the next one yet
	first := urlEvent("first")
	send(fastMsg(t, 1, first, testSigningKey))
	applied(1)

	// Event 1's signed message replayed as sequence 2: its signature
	// covers "1\n...", so it does not verify.
	replay := fastMsg(t, 1, first, testSigningKey)
	replay.Data = append([]byte("2"), replay.Data[1:]...)
	send(replay)
	unsigned := fastMsg(t, 2, urlEvent("unsigned"), "")
	send(unsigned)
	send(fastMsg(t, 2, urlEvent("other key"), "another fleet's key"))
	second := urlEvent("second")
	send(fastMsg(t, 2, second, testSigningKey))
	applied(1, 2)
	if got := inv.calls()[1].Req.URLs; !slices.Equal(got, second.Request.URLs) {
		t.Fatalf("sequence 2 applied %v, want %v", got, second.Request.URLs)
	}
	send(fastMsg(t, 2, urlEvent("again"), testSigningKey)) // applied already
	send(fastMsg(t, 3, urlEvent("third"), testSigningKey))
	applied(1, 2, 3)
}

// fastOnlyBus starts a bus on a NATS server without JetStream, so that
// every apply it makes comes from the fast path, and returns its
// Invalidator and a sender of raw messages to that server.
func fastOnlyBus(t *testing.T) (*memInvalidator, func(*nats.Msg)) {
	t.Helper()
	s := startPlainServer(t, -1)
	inv := &memInvalidator{}
	b := newBus(t, Options{NATSURL: s.ClientURL(), Invalidator: inv})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = b.Start(ctx) // no JetStream: it never catches up, and says so
	return inv, rawSender(t, s.ClientURL())
}
