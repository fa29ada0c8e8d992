package purge

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A client holding the NATS token can update a node's consumer of the
// stream under its name (the server cannot tell whose a consumer is). A
// filter subject no event matches, or headers only, stopped every node's
// stream deliveries: an event only the stream carried (here a raw client's;
// also one whose publisher's fast message was lost) was never delivered,
// each later purge waited for it and its publish failed after 20 s ("not
// yet applied"), for as long as the sessions lasted. Each node now notices
// the change within a probe interval and makes a new consumer from its
// applied sequence (a headers-only delivery is not taken for an unsigned
// event and skipped): every event is applied, in order.
func TestChangedConsumerIsReplaced(t *testing.T) {
	for name, change := range map[string]func(*jetstream.ConsumerConfig){
		"filter no event matches": func(c *jetstream.ConsumerConfig) { c.FilterSubject = "edged.purge.nothing" },
		"headers only":            func(c *jetstream.ConsumerConfig) { c.HeadersOnly = true },
		// An event whose publisher set the header JetStream adds to a
		// headers-only delivery is still applied (the consumer decides).
		"unchanged": nil,
	} {
		t.Run(name, func(t *testing.T) {
			// A short MaxLag makes the probe interval, and so the check, short.
			lag := 600 * time.Millisecond
			invs := []*memInvalidator{{}, {}, {}}
			a := startBus(t, Options{Invalidator: invs[0], NATSListen: "127.0.0.1:-1", Node: "a", MaxLag: lag})
			buses := []*Bus{a,
				startBus(t, Options{Invalidator: invs[1], NATSURL: a.ClientURL(), Node: "b", MaxLag: lag}),
				startBus(t, Options{Invalidator: invs[2], NATSURL: a.ClientURL(), Node: "c", MaxLag: lag})}
			publishN(t, buses[1], 1, "before")
			js, stream := tokenClient(t, a.ClientURL())
			ctx := context.Background()
			waitFor(t, "every node's consumer", func() bool { return len(consumerNames(stream)) >= len(buses) })
			changed := 0
			for _, name := range consumerNames(stream) {
				if change == nil {
					changed++
					continue
				}
				c, err := stream.Consumer(ctx, name)
				if err != nil {
					t.Fatal(err)
				}
				cfg := c.CachedInfo().Config
				change(&cfg)
				if _, err := js.UpdateConsumer(ctx, "EDGED_PURGE", cfg); err != nil {
					t.Fatalf("updating consumer %s: %v", name, err)
				}
				changed++
			}
			if changed < len(buses) {
				t.Fatalf("changed %d consumers, want every node's (%d)", changed, len(buses))
			}
			send := rawSender(t, a.ClientURL())
			msg := signedMsg(eventData1(t, event{ID: newID(), Node: "x", Time: time.Now().UTC(),
				Request: Request{Tags: []string{"stream only"}}}), testSigningKey)
			msg.Header.Set(nats.MsgSize, "1")
			send(msg)
			publishN(t, buses[1], 1, "after")
			for i, inv := range invs {
				waitFor(t, "every event applied", func() bool { a, _ := inv.Applied(); return a == 3 })
				if got := inv.seqs(); !reflect.DeepEqual(got, []uint64{1, 2, 3}) {
					t.Errorf("node %d applied %v, want 1, 2, 3", i, got)
				}
			}
		})
	}
}

// A client holding the NATS token (not the signing key) can send pull
// requests on the nodes' consumers, and the server hands it events a node
// then never gets (no acknowledgements: the consumer counts them
// delivered). Each node took every such skip for events lost and marked its
// whole cache stale (here about 50 times each, every object of every tier then
// revalidated with the origin), as a deleted stream did. A node now sees
// that the stream still holds what it skipped and starts a new session
// from its applied sequence: every event applied, no gap.
func TestStolenDeliveriesAreNoGap(t *testing.T) {
	buses, invs := threeBuses(t)
	publishN(t, buses[1], 1, "before")
	_, stream := tokenClient(t, buses[0].ClientURL())
	nc, err := nats.Connect(buses[0].ClientURL(), nats.Token(testNATSToken))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	inbox := nats.NewInbox()
	if _, err := nc.Subscribe(inbox, func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	pull, err := json.Marshal(map[string]any{"batch": 10000, "expires": int64(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every node's consumer", func() bool { return len(consumerNames(stream)) >= len(buses) })
	for _, name := range consumerNames(stream) {
		for range 5 {
			if err := nc.PublishRequest("$JS.API.CONSUMER.MSG.NEXT.EDGED_PURGE."+name, inbox, pull); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Unsigned events (every node rejects them) take the nodes' pulls'
	// batches, so that the client's pulls are served too.
	for i := range 300 {
		if err := nc.Publish("edged.purge", fmt.Appendf(nil, `{"id":"junk%d"}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	after := publishN(t, buses[1], 1, "after")
	for i, inv := range invs {
		waitFor(t, "the purge after", func() bool { a, _ := inv.Applied(); return a == after[0] })
		if got := testutil.ToFloat64(buses[i].metrics.gaps); got != 0 {
			t.Errorf("node %d marked its whole cache stale %v times", i, got)
		}
	}
}

// consumerNames lists stream's consumers (the nodes' sessions', and those
// of ended sessions until the server drops them).
func consumerNames(stream jetstream.Stream) []string {
	var names []string
	for name := range stream.ConsumerNames(context.Background()).Name() {
		names = append(names, name)
	}
	return names
}
