package purge

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// Issue 18: a node that reconnects (to another server of a cluster, after
// its own died) must not wait on the JetStream meta leader, which may have
// died with that server: on the cluster test a reconnected node waited 5s
// (the API timeout) for its create-or-update of the stream, every time.
// The bus now only looks the stream up (its leader answers) and asks for
// an update only when the stream's settings differ from its own.
func TestReconnectDoesNotRewriteTheStream(t *testing.T) {
	s := startServer(t, t.TempDir(), -1)
	watcher, err := nats.Connect(s.ClientURL(), nats.Token(testNATSToken))
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	// The requests queue, unread, on synchronous subscriptions: once
	// Flush returns, every request the server had routed is counted.
	var subs []*nats.Subscription
	for _, subj := range []string{"$JS.API.STREAM.CREATE.EDGED_PURGE", "$JS.API.STREAM.UPDATE.EDGED_PURGE"} {
		sub, err := watcher.SubscribeSync(subj)
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, sub)
	}
	writes := func() int {
		t.Helper()
		if err := watcher.Flush(); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, sub := range subs {
			msgs, _, _ := sub.Pending()
			n += msgs
		}
		return n
	}
	writes()

	b := startBus(t, Options{NATSURL: s.ClientURL()})
	publishN(t, b, 1, "before")
	created := writes()
	if created == 0 {
		t.Fatal("the stream was never created")
	}

	// The server drops the bus's connection; the bus reconnects and starts
	// a new session.
	cid, err := b.nc.GetClientID()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DisconnectClientByID(cid); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reconnect", func() bool { return b.Health().Reconnects == 1 && b.nc.IsConnected() })
	publishN(t, b, 1, "after") // applied: the new session runs
	if got := writes() - created; got != 0 {
		t.Errorf("the reconnect sent %d stream create/update requests, want 0", got)
	}

	// A node with other settings still updates the stream.
	startBus(t, Options{NATSURL: s.ClientURL(), Retention: time.Hour, Node: "other"})
	if writes() == created {
		t.Error("a bus with another retention did not update the stream")
	}
	info, err := b.js.Stream(context.Background(), "EDGED_PURGE")
	if err != nil {
		t.Fatal(err)
	}
	if got := info.CachedInfo().Config.MaxAge; got != time.Hour {
		t.Errorf("stream MaxAge = %v, want 1h", got)
	}
}
