package purge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"edged/internal/logtest"
)

// threeBuses starts one bus with an embedded server listening on 127.0.0.1
// and two that connect to it by URL, as a small fleet does.
func threeBuses(t testing.TB) ([]*Bus, []*memInvalidator) {
	t.Helper()
	invs := []*memInvalidator{{}, {}, {}}
	a := startBus(t, Options{Invalidator: invs[0], NATSListen: "127.0.0.1:-1", Node: "a"})
	if a.ClientURL() == "" {
		t.Fatal("ClientURL empty with NATSListen set")
	}
	b := startBus(t, Options{Invalidator: invs[1], NATSURL: a.ClientURL(), Node: "b"})
	c := startBus(t, Options{Invalidator: invs[2], NATSURL: a.ClientURL(), Node: "c"})
	return []*Bus{a, b, c}, invs
}

func TestThreeNodesApplyEveryPurgeInOrder(t *testing.T) {
	buses, invs := threeBuses(t)
	var want []Request
	for i := range 12 {
		r := Request{Tags: []string{fmt.Sprintf("tag-%d", i)}, Soft: i%2 == 0}
		res, err := buses[i%3].Publish(context.Background(), r)
		if err != nil {
			t.Fatalf("Publish through node %d: %v", i%3, err)
		}
		if res.Seq != uint64(i+1) || res.ID == "" {
			t.Fatalf("Result = %+v, want seq %d and an id", res, i+1)
		}
		want = append(want, r)
	}
	for n, inv := range invs {
		waitFor(t, fmt.Sprintf("node %d applies 12 purges", n), func() bool { return len(inv.calls()) == 12 })
		for i, c := range inv.calls() {
			if c.Seq != uint64(i+1) || !reflect.DeepEqual(c.Req, want[i]) {
				t.Errorf("node %d call %d = %+v, want seq %d %+v", n, i, c, i+1, want[i])
			}
		}
	}
}

func TestRestartedNodeCatchesUpInStart(t *testing.T) {
	buses, _ := threeBuses(t)
	inv := &memInvalidator{}
	late := startBus(t, Options{Invalidator: inv, NATSURL: buses[0].ClientURL(), Node: "late"})
	publishN(t, buses[0], 3, "before")
	waitFor(t, "late node applies 3", func() bool { return len(inv.calls()) == 3 })
	if err := late.Close(); err != nil {
		t.Fatal(err)
	}
	publishN(t, buses[1], 4, "while-down")

	// Same Invalidator: Applied() = 3, where it stopped.
	startBus(t, Options{Invalidator: inv, NATSURL: buses[0].ClientURL(), Node: "late"})
	// No waiting: Start returns only after the missed purges are applied.
	if got, want := inv.seqs(), seqRange(1, 7); !reflect.DeepEqual(got, want) {
		t.Fatalf("after Start applied %v, want %v", got, want)
	}
}

func TestGapAfter(t *testing.T) {
	tests := []struct {
		name     string
		applied  uint64
		st       jetstream.StreamState
		wantNext uint64
		wantGap  bool
	}{
		{"new stream, new node", 0, jetstream.StreamState{}, 1, false},
		{"caught up", 5, jetstream.StreamState{Msgs: 5, FirstSeq: 1, LastSeq: 5}, 1, false},
		{"behind, events kept", 2, jetstream.StreamState{Msgs: 5, FirstSeq: 1, LastSeq: 5}, 1, false},
		{"first is next", 2, jetstream.StreamState{Msgs: 3, FirstSeq: 3, LastSeq: 5}, 3, false},
		{"retention removed unapplied", 2, jetstream.StreamState{Msgs: 2, FirstSeq: 4, LastSeq: 5}, 4, true},
		{"stream emptied after my last", 5, jetstream.StreamState{FirstSeq: 6, LastSeq: 5}, 6, false},
		{"stream emptied before my last", 3, jetstream.StreamState{FirstSeq: 6, LastSeq: 5}, 6, true},
		{"stream recreated empty", 5, jetstream.StreamState{}, 1, true},
		{"stream recreated shorter", 5, jetstream.StreamState{Msgs: 2, FirstSeq: 1, LastSeq: 2}, 1, true},
		{"new node, old stream", 0, jetstream.StreamState{Msgs: 2, FirstSeq: 9, LastSeq: 10}, 9, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, gap := gapAfter(tt.applied, tt.st)
			if next != tt.wantNext || gap != tt.wantGap {
				t.Errorf("gapAfter(%d, %+v) = %d, %v; want %d, %v", tt.applied, tt.st, next, gap, tt.wantNext, tt.wantGap)
			}
		})
	}
}

// operatorBuses starts a NATS server of the test's own (as an operator's
// cluster, which may let a client manage the stream) and three buses
// connected to it.
func operatorBuses(t testing.TB) []*Bus {
	t.Helper()
	url := startServer(t, t.TempDir(), freePort(t)).ClientURL()
	return []*Bus{
		startBus(t, Options{NATSURL: url, Node: "a"}),
		startBus(t, Options{NATSURL: url, Node: "b"}),
		startBus(t, Options{NATSURL: url, Node: "c"}),
	}
}

func TestGapMarksWholeCacheStale(t *testing.T) {
	buses := operatorBuses(t)
	stream, err := buses[0].js.Stream(context.Background(), "EDGED_PURGE")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("stream purged while down", func(t *testing.T) {
		inv := &memInvalidator{}
		b := startBus(t, Options{Invalidator: inv, NATSURL: buses[0].opts.NATSURL, Node: "d"})
		publishN(t, buses[0], 2, "seen")
		waitFor(t, "2 applied", func() bool { return len(inv.calls()) == 2 })
		_ = b.Close()
		publishN(t, buses[0], 2, "missed") // seqs 3, 4
		if err := stream.Purge(context.Background()); err != nil {
			t.Fatal(err)
		}
		startBus(t, Options{Invalidator: inv, NATSURL: buses[0].opts.NATSURL, Node: "d"})
		calls := inv.calls()
		if len(calls) != 3 || calls[2].Seq != 4 || !reflect.DeepEqual(calls[2].Req, staleAll) {
			t.Fatalf("calls = %+v, want a third one: all+soft recorded at seq 4", calls)
		}
		publishN(t, buses[0], 1, "after") // seq 5 follows without another gap
		waitFor(t, "seq 5", func() bool { return len(inv.calls()) == 4 })
		if c := inv.calls()[3]; c.Seq != 5 || c.Req.All {
			t.Errorf("after gap got %+v, want the URL purge at seq 5", c)
		}
	})
	t.Run("stream recreated while down", func(t *testing.T) {
		inv := &memInvalidator{applied: 100} // ahead of anything the stream holds
		startBus(t, Options{Invalidator: inv, NATSURL: buses[0].opts.NATSURL, Node: "e"})
		// The stream now holds only seq 5: all+soft is recorded just before
		// it (lower than the old applied 100), then seq 5 applies.
		calls := inv.calls()
		if len(calls) != 2 || !reflect.DeepEqual(calls[0].Req, staleAll) || calls[0].Seq != 4 || calls[1].Seq != 5 {
			t.Fatalf("calls = %+v, want all+soft at seq 4, then seq 5", calls)
		}
	})
}

// A retried publish is harmless: JetStream stores an event published
// twice with its ID (as publishAcked retries) once, and a node applies it
// once. (A copy under another message ID is a replay: replay_test.go.)
func TestDuplicatePublishIsHarmless(t *testing.T) {
	inv := &memInvalidator{}
	b := startBus(t, Options{Invalidator: inv})
	data, err := encodeEvent(event{ID: "dup", Node: "x", Time: time.Now(), Request: Request{Tags: []string{"t"}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 2 {
		ack, err := b.js.PublishMsg(ctx, signedMsg(data, testSigningKey), jetstream.WithMsgID("dup"))
		if err != nil || ack.Sequence != 1 || ack.Duplicate != (i == 1) {
			t.Fatalf("publish %d = %+v, %v; want seq 1, the second a duplicate", i, ack, err)
		}
	}
	// A marker published after them is applied after whatever the
	// stream delivers before it: when it is, a second apply of "dup"
	// would have come first.
	marker, err := encodeEvent(event{ID: "marker", Node: "x", Time: time.Now(), Request: Request{Tags: []string{"marker"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.js.PublishMsg(ctx, signedMsg(marker, testSigningKey)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the marker applied", func() bool {
		calls := inv.calls()
		return len(calls) > 0 && slices.Equal(calls[len(calls)-1].Req.Tags, []string{"marker"})
	})
	if got, want := inv.seqs(), []uint64{1, 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("applied %v, want %v (the event once, then the marker)", got, want)
	}
}

func TestInvalidateFailureIsRetriedNotSkipped(t *testing.T) {
	inv := &memInvalidator{}
	b := startBus(t, Options{Invalidator: inv})
	inv.mu.Lock()
	inv.fail = 3
	inv.mu.Unlock()
	publishN(t, b, 2, "x")
	if got, want := inv.seqs(), []uint64{1, 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("applied %v, want %v", got, want)
	}
}

func TestMalformedEventMarksWholeCacheStale(t *testing.T) {
	inv := &memInvalidator{}
	b := startBus(t, Options{Invalidator: inv})
	// Signed: a node of the fleet made it, in a format this node does not know.
	msg := signedMsg([]byte(`{"id":"x","time":"`+time.Now().UTC().Format(time.RFC3339Nano)+`","request":{"future_kind":["a"]}}`), testSigningKey)
	if _, err := b.js.PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "applied", func() bool { return len(inv.calls()) == 1 })
	if c := inv.calls()[0]; c.Seq != 1 || !reflect.DeepEqual(c.Req, staleAll) {
		t.Errorf("got %+v, want all+soft at seq 1", c)
	}
}

func TestUnreachableNATSAtStart(t *testing.T) {
	port := freePort(t)
	inv := &memInvalidator{}
	b := newBus(t, Options{Invalidator: inv, NATSURL: fmt.Sprintf("nats://127.0.0.1:%d", port), Token: "s3cret"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := b.Start(ctx)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Start = %v, want ErrUnavailable", err)
	}
	if _, err := b.Publish(ctx, Request{All: true}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Publish while down = %v, want ErrUnavailable", err)
	}
	srv := httptest.NewServer(b.Handler())
	defer srv.Close()
	if code, body := post(t, srv.URL, "s3cret", `{"all":true}`); code != http.StatusServiceUnavailable {
		t.Fatalf("API while down = %d %s, want 503", code, body)
	}

	startServer(t, t.TempDir(), port)
	select {
	case <-b.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("bus did not reconnect and catch up")
	}
	if code, body := post(t, srv.URL, "s3cret", `{"tags":["t"]}`); code != http.StatusOK {
		t.Fatalf("API after reconnect = %d %s, want 200", code, body)
	}
	if got := inv.seqs(); !reflect.DeepEqual(got, []uint64{1}) {
		t.Errorf("applied %v, want [1]", got)
	}
}

func TestReconnectAfterServerRestart(t *testing.T) {
	dir, port := t.TempDir(), freePort(t)
	s := startServer(t, dir, port)
	inv := &memInvalidator{}
	b := startBus(t, Options{Invalidator: inv, NATSURL: s.ClientURL()})
	publishN(t, b, 2, "before")
	s.Shutdown()
	s.WaitForShutdown()
	waitFor(t, "disconnect", func() bool { return !b.nc.IsConnected() })
	if _, err := b.Publish(context.Background(), Request{All: true}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Publish while down = %v, want ErrUnavailable", err)
	}
	startServer(t, dir, port) // same store: the stream and its events survive
	waitFor(t, "reconnect", func() bool { return b.nc.IsConnected() })
	var res Result
	waitFor(t, "publish after reconnect", func() bool {
		var err error
		res, err = b.Publish(context.Background(), Request{Tags: []string{"after"}})
		return err == nil
	})
	if res.Seq != 3 {
		t.Errorf("seq after restart = %d, want 3 (the stream kept 1 and 2)", res.Seq)
	}
	if got, want := inv.seqs(), []uint64{1, 2, 3}; !reflect.DeepEqual(got, want) {
		t.Errorf("applied %v, want %v", got, want)
	}
}

// An acknowledged purge survives a restart of the embedded server: a new
// node on the same store directory finds every event.
func TestEmbeddedStreamSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	b := startBus(t, Options{StoreDir: dir})
	publishN(t, b, 3, "x")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	inv := &memInvalidator{}
	startBus(t, Options{Invalidator: inv, StoreDir: dir})
	if got, want := inv.seqs(), seqRange(1, 3); !reflect.DeepEqual(got, want) {
		t.Errorf("fresh node on the same store applied %v, want %v", got, want)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	inv := &memInvalidator{perCall: 7}
	b := startBus(t, Options{Invalidator: inv, Registerer: reg})
	if _, err := b.Publish(context.Background(), Request{Tags: []string{"t"}, URLs: []string{"http://a.example/"}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		c    prometheus.Collector
		want float64
	}{
		{b.metrics.published, 1},
		{b.metrics.applied.WithLabelValues("tag"), 1},
		{b.metrics.applied.WithLabelValues("url"), 1},
		{b.metrics.objects, 7},
		{b.metrics.appliedSeq, 1},
		{b.metrics.connected, 1},
	}
	for i, tt := range tests {
		if got := testutil.ToFloat64(tt.c); got != tt.want {
			t.Errorf("metric %d = %v, want %v", i, got, tt.want)
		}
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n == 0 {
		t.Errorf("gathered %d metrics, err %v", n, err)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no invalidator", Options{StoreDir: "x"}, "Invalidator"},
		{"embedded without store", Options{Invalidator: &memInvalidator{}}, "StoreDir"},
		{"listen with url", Options{Invalidator: &memInvalidator{}, NATSURL: "nats://x", NATSListen: ":4222"}, "NATSListen"},
		{"listen without token", Options{Invalidator: &memInvalidator{}, StoreDir: "x", NATSListen: "127.0.0.1:-1"}, "NATSToken"},
	}
	for _, tt := range tests {
		if _, err := New(tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to name %s", tt.name, err, tt.want)
		}
	}
}

// BenchmarkPublishApply measures purge propagation: one op is a purge
// published through one node until all three nodes applied it.
func BenchmarkPublishApply(b *testing.B) {
	buses, invs := threeBuses(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		res, err := buses[i%3].Publish(ctx, Request{URLs: []string{"http://www.example.com/bench"}})
		if err != nil {
			b.Fatal(err)
		}
		for _, inv := range invs {
			for {
				if got, _ := inv.Applied(); got >= res.Seq {
					break
				}
				time.Sleep(20 * time.Microsecond)
			}
		}
	}
}

// A client allowed to (an operator removing a message, or on a cluster
// without permissions any client holding the NATS token) can
// delete the stream's last event: the stream's last sequence stays, and no
// delivery ever reaches it. A node that was down then waited for it: Start
// never returned before its deadline (edged did not start, and every
// restart of every node failed the same way), and the event it missed may
// have been a hard purge. It now takes the deleted tail for lost events:
// the whole cache is marked stale at the stream's last sequence, and the
// next purge follows without another gap.
func TestDeletedLastEventsAreAGap(t *testing.T) {
	buses := operatorBuses(t) // the embedded server refuses the delete (TestEmbeddedServerKeepsTheStream)
	_, stream := tokenClient(t, buses[0].opts.NATSURL)
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		missed int // events published while the node is down
		delete int // how many of the last ones the client deletes
	}{
		{"the one missed event", 1, 1},
		{"the last of two missed", 2, 1},
		{"every missed event", 3, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inv := &memInvalidator{}
			d := startBus(t, Options{Invalidator: inv, NATSURL: buses[0].opts.NATSURL, Node: "d"})
			seen := publishN(t, buses[0], 1, "seen")
			waitFor(t, "the first applied", func() bool { a, _ := inv.Applied(); return a == seen[0] })
			_ = d.Close()
			missed := publishN(t, buses[1], tt.missed, "missed")
			for _, seq := range missed[len(missed)-tt.delete:] {
				if err := stream.DeleteMsg(ctx, seq); err != nil {
					t.Fatal(err)
				}
			}
			last := missed[len(missed)-1]

			start := time.Now()
			d = newBus(t, Options{Invalidator: inv, NATSURL: buses[0].opts.NATSURL, Node: "d"})
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := d.Start(sctx); err != nil {
				t.Fatalf("Start after the stream's last events were deleted: %v (after %v)", err, time.Since(start))
			}
			calls := inv.calls()
			if got := calls[len(calls)-1]; got.Seq != last || !reflect.DeepEqual(got.Req, staleAll) {
				t.Fatalf("calls = %+v (first at seq %d), want all+soft recorded at the last seq %d", calls, seen[0], last)
			}
			after := publishN(t, buses[2], 1, "after")
			waitFor(t, "the next purge", func() bool { return inv.calls()[len(inv.calls())-1].Seq == after[0] })
			if c := inv.calls()[len(inv.calls())-1]; c.Req.All {
				t.Errorf("the purge after the deleted tail was applied as %+v, want the URL purge (no second gap)", c)
			}
		})
	}
}

// The embedded server gives a client holding the NATS token no right to
// delete the purge stream, purge it or delete one of its events, nor to
// change its settings, nor to delete or pause a node's consumer (which
// holds up its applies): each undoes purges or costs the fleet its caches (a
// deleted stream made every node mark its whole cache stale, every object
// of every tier revalidated with the origin, as often as the client
// deleted it; a max age or max messages of 1 removes events before late
// nodes apply them; a short duplicate window opens the replay check's).
// Token authorization alone gave a token holder the whole JetStream API.
// What the nodes do still works: publish, apply, read back.
func TestEmbeddedServerKeepsTheStream(t *testing.T) {
	buses, invs := threeBuses(t)
	publishN(t, buses[1], 2, "before")
	js, stream := tokenClient(t, buses[0].ClientURL())
	ctx := context.Background()
	for name, attack := range map[string]func(context.Context) error{
		"delete the stream": func(ctx context.Context) error { return js.DeleteStream(ctx, "EDGED_PURGE") },
		"purge the stream":  func(ctx context.Context) error { return stream.Purge(ctx) },
		"delete an event":   func(ctx context.Context) error { return stream.DeleteMsg(ctx, 2) },
		"shorten its max age": func(ctx context.Context) error {
			return updateStream(ctx, js, stream, func(c *jetstream.StreamConfig) { c.MaxAge, c.Duplicates = time.Second, time.Second })
		},
		"keep one event": func(ctx context.Context) error {
			return updateStream(ctx, js, stream, func(c *jetstream.StreamConfig) { c.MaxMsgs = 1 })
		},
		"delete a node's consumer": func(ctx context.Context) error {
			return js.DeleteConsumer(ctx, "EDGED_PURGE", aConsumer(t, stream))
		},
		"pause a node's consumer": func(ctx context.Context) error {
			_, err := js.PauseConsumer(ctx, "EDGED_PURGE", aConsumer(t, stream), time.Now().Add(time.Hour))
			return err
		},
		"shorten its duplicate window": func(ctx context.Context) error {
			return updateStream(ctx, js, stream, func(c *jetstream.StreamConfig) { c.Duplicates = 100 * time.Millisecond })
		},
	} {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := attack(actx)
		cancel()
		if err == nil {
			t.Errorf("a client holding the NATS token could %s", name)
		}
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st := info.State; st.Msgs != 2 || st.LastSeq != 2 || st.NumDeleted != 0 {
		t.Errorf("stream state %+v, want both events kept", st)
	}
	if c := info.Config; c.MaxAge != buses[0].opts.Retention || c.MaxMsgs != -1 || c.Duplicates != 2*time.Minute {
		t.Errorf("stream max age %v, max messages %d, duplicate window %v: want the node's settings", c.MaxAge, c.MaxMsgs, c.Duplicates)
	}
	after := publishN(t, buses[2], 1, "after")
	for i, inv := range invs {
		waitFor(t, "the purge after", func() bool { a, _ := inv.Applied(); return a == after[0] })
		if got := testutil.ToFloat64(buses[i].metrics.gaps); got != 0 {
			t.Errorf("node %d marked its cache stale %v times", i, got)
		}
	}
}

// aConsumer names one of stream's consumers (the nodes' sessions').
func aConsumer(t testing.TB, stream jetstream.Stream) string {
	t.Helper()
	lister := stream.ConsumerNames(context.Background())
	var names []string
	for name := range lister.Name() {
		names = append(names, name)
	}
	if len(names) == 0 {
		t.Fatalf("no consumer: %v", lister.Err())
	}
	return names[0]
}

// updateStream asks to update stream's settings as change says.
func updateStream(ctx context.Context, js jetstream.JetStream, stream jetstream.Stream, change func(*jetstream.StreamConfig)) error {
	cfg := stream.CachedInfo().Config
	change(&cfg)
	_, err := js.UpdateStream(ctx, cfg)
	return err
}

// The node that embeds the NATS server sets the stream's settings: one
// restarted with another purge.retention applies it. A node joining it over
// the network may not change them (embeddedAuth): one whose retention
// differs uses the stream as it is, logs what differs, and starts at once
// (a refused request gets no answer; the bus ends it on the server's
// permission error rather than wait for its timeout). Before, any node
// holding the token set its own settings, and so could any client.
func TestOnlyTheEmbeddingNodeSetsTheStream(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := startBus(t, Options{StoreDir: dir, NATSListen: "127.0.0.1:-1", Node: "a"})
	logs := &logtest.Buffer{}
	start := time.Now()
	b := startBus(t, Options{NATSURL: a.ClientURL(), Retention: time.Hour, Node: "b", Logger: debugLogger(logs)})
	if d := time.Since(start); d >= streamWriteTimeout {
		t.Errorf("the node took %v to start, want under the stream write timeout %v", d, streamWriteTimeout)
	}
	_, stream := tokenClient(t, a.ClientURL())
	if got := stream.CachedInfo().Config.MaxAge; got != a.opts.Retention {
		t.Errorf("a joining node set the stream's max age to %v, want the embedding node's %v", got, a.opts.Retention)
	}
	if want := "max_age 168h0m0s (this node: 1h0m0s)"; !strings.Contains(logs.String(), want) {
		t.Errorf("the joining node's log does not say %q:\n%s", want, logs)
	}
	publishN(t, b, 1, "joined") // it works as a node all the same
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	a = startBus(t, Options{StoreDir: dir, Retention: time.Hour, Node: "a"})
	s, err := a.js.Stream(ctx, "EDGED_PURGE")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().Config.MaxAge; got != time.Hour {
		t.Errorf("the embedding node restarted with a retention of 1h left the stream's max age at %v", got)
	}
}

// tokenClient connects to url as a client holding the NATS token and
// nothing else (not a node), and returns its JetStream context and the
// purge stream. Its permission errors are expected, not printed.
func tokenClient(t testing.TB, url string) (jetstream.JetStream, jetstream.Stream) {
	t.Helper()
	nc, err := nats.Connect(url, nats.Token(testNATSToken),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(context.Background(), "EDGED_PURGE")
	if err != nil {
		t.Fatal(err)
	}
	return js, stream
}

// A node moved to another purge stream (a new bus, here another server's
// stream, whose sequences start again at 1) marks its whole cache stale and
// applies every event of the new stream, though the new stream had already
// passed the sequence the node applied last on the old one; restarted on
// the same stream it finds no gap. Before, the node took the new stream's
// first events for ones it had applied and skipped them without a word: a
// purge of the new bus's third event was never applied there, and the
// object stayed a hit. Nor is the same stream, its server restarted, taken
// for another.
func TestNewStreamIsNotTakenForTheOld(t *testing.T) {
	old := startServer(t, t.TempDir(), freePort(t)).ClientURL()
	nextDir, nextPort := t.TempDir(), freePort(t)
	nextServer := startServer(t, nextDir, nextPort)
	next := nextServer.ClientURL()
	oldPub := startBus(t, Options{NATSURL: old, Node: "old-publisher"})
	inv := &streamInvalidator{}
	d := startBus(t, Options{Invalidator: inv, NATSURL: old, Node: "d"})
	applied := publishN(t, oldPub, 4, "old")
	waitFor(t, "the old stream's events applied", func() bool { a, _ := inv.Applied(); return a == applied[3] })
	_ = d.Close()

	nextPub := startBus(t, Options{NATSURL: next, Node: "next-publisher"})
	moved := publishN(t, nextPub, 5, "next")
	if moved[4] < applied[3] {
		t.Fatalf("the new stream's last sequence %d is below the old applied %d: the test needs it past", moved[4], applied[3])
	}
	before := len(inv.calls())
	d = startBus(t, Options{Invalidator: inv, NATSURL: next, Node: "d"})
	waitFor(t, "the new stream's events applied", func() bool { a, _ := inv.Applied(); return a == moved[4] })
	calls := inv.calls()[before:]
	// The last event's fast-path copy may reach the node before its
	// session reads the stream: applied then, and again from the stream.
	stale := slices.IndexFunc(calls, func(c applyCall) bool { return reflect.DeepEqual(c.Req, staleAll) })
	if stale < 0 || calls[stale].Seq != moved[0]-1 {
		t.Fatalf("calls on the new stream = %+v, want the whole cache marked stale at seq %d", calls, moved[0]-1)
	}
	var seqs []uint64
	for _, c := range calls[stale+1:] {
		seqs = append(seqs, c.Seq)
	}
	if !reflect.DeepEqual(seqs, moved) {
		t.Errorf("applied from the new stream %v, want every event %v", seqs, moved)
	}
	_ = d.Close()
	_ = nextPub.Close()
	nextServer.Shutdown()
	nextServer.WaitForShutdown()
	startServer(t, nextDir, nextPort)

	before = len(inv.calls())
	startBus(t, Options{Invalidator: inv, NATSURL: next, Node: "d"}) // closed at cleanup
	nextPub = startBus(t, Options{NATSURL: next, Node: "next-publisher"})
	after := publishN(t, nextPub, 1, "after")
	waitFor(t, "the next event applied", func() bool { a, _ := inv.Applied(); return a == after[0] })
	if calls := inv.calls()[before:]; len(calls) != 1 || calls[0].Req.All {
		t.Errorf("calls after a restart of the node and the server on the same stream = %+v, want only the new event", calls)
	}
}

// The embedded server's stream is the same stream after a restart on the
// same store (its creation time is kept), so a node that embeds it finds
// no new stream and no gap.
func TestEmbeddedRestartKeepsTheStream(t *testing.T) {
	dir := t.TempDir()
	inv := &streamInvalidator{}
	a := startBus(t, Options{Invalidator: inv, StoreDir: dir, Node: "a"})
	applied := publishN(t, a, 2, "before")
	waitFor(t, "both applied", func() bool { s, _ := inv.Applied(); return s == applied[1] })
	_ = a.Close()
	before := len(inv.calls())
	a = startBus(t, Options{Invalidator: inv, StoreDir: dir, Node: "a"})
	after := publishN(t, a, 1, "after")
	waitFor(t, "the next applied", func() bool { s, _ := inv.Applied(); return s == after[0] })
	if calls := inv.calls()[before:]; len(calls) != 1 || calls[0].Req.All {
		t.Errorf("calls after a restart on the same store = %+v, want only the new event", calls)
	}
	if s, _ := inv.AppliedStream(); s == "" {
		t.Error("no stream recorded")
	}
}

// A client holding the NATS token never receives the JetStream API
// requests of the nodes: receiving one (a node's request for the purge
// stream's info, or a pull on its consumer) is all it needs to answer it
// before the server, with a stream of another creation time or a later
// first sequence, which makes the node mark its whole cache stale (the
// cost of the stream deletion the server refuses). Before, a subscription
// to $JS.API.> got a joining node's requests, reply subject included.
func TestTokenHolderSeesNoJetStreamRequests(t *testing.T) {
	buses, _ := threeBuses(t)
	nc, err := nats.Connect(buses[0].ClientURL(), nats.Token(testNATSToken),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	subs := map[string]*nats.Subscription{}
	for _, subject := range []string{"$JS.API.>", "$JS.API.STREAM.INFO.EDGED_PURGE", ">"} {
		sub, err := nc.SubscribeSync(subject)
		if err != nil {
			t.Fatal(err)
		}
		subs[subject] = sub
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// A node joining reads the stream's info and makes its consumer.
	startBus(t, Options{Invalidator: &memInvalidator{}, NATSURL: buses[0].ClientURL(), Node: "d"})
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	for subject, sub := range subs {
		for {
			msg, err := sub.NextMsg(0)
			if err != nil {
				break
			}
			if strings.HasPrefix(msg.Subject, "$JS.API.") {
				t.Errorf("a token holder's subscription to %s got the request %s (reply to %s)", subject, msg.Subject, msg.Reply)
				break
			}
		}
	}
}
