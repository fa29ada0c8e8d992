package purge

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// skewedClock is a node's wall clock off the real one (and the NATS
// server's) by skew, which the test sets; with drift, each reading is
// drift further off than the last (a clock running wild).
type skewedClock struct {
	skew, drift atomic.Int64
}

func (c *skewedClock) now() time.Time {
	return time.Now().Add(time.Duration(c.skew.Add(c.drift.Load())))
}

func (c *skewedClock) set(d time.Duration) { c.skew.Store(int64(d)) }

// skewFleet starts a NATS server, a publishing node whose clock is clock
// (with the API token "t"), and a peer with the right time.
func skewFleet(t *testing.T, clock *skewedClock) (pub, peer *Bus, invs []*memInvalidator) {
	t.Helper()
	s := startServer(t, t.TempDir(), -1)
	invs = []*memInvalidator{{}, {}}
	pub = startBus(t, Options{NATSURL: s.ClientURL(), Invalidator: invs[0], Node: "skewed", Now: clock.now, Token: "t"})
	peer = startBus(t, Options{NATSURL: s.ClientURL(), Invalidator: invs[1], Node: "peer"})
	return pub, peer, invs
}

// sameApplies waits until every node applied seq, then checks that all
// of them made the same calls, and that want is among them.
func sameApplies(t *testing.T, invs []*memInvalidator, seq uint64, want applyCall) {
	t.Helper()
	for n, inv := range invs {
		waitFor(t, fmt.Sprintf("node %d reaches seq %d", n, seq), func() bool { got, _ := inv.Applied(); return got >= seq })
	}
	first := invs[0].calls()
	for n, inv := range invs {
		got := inv.calls()
		if !reflect.DeepEqual(got, first) {
			t.Errorf("node %d applied %+v, node 0 %+v: the nodes disagree", n, got, first)
		}
		found := false
		for _, c := range got {
			found = found || reflect.DeepEqual(c, want)
		}
		if !found {
			t.Errorf("node %d applied %+v: the purge %+v is missing (rejected, while Publish succeeded)", n, got, want)
		}
	}
}

// publishEverywhere publishes a purge of path on pub and checks that it
// succeeded and that every node applied it, the same way.
func publishEverywhere(t *testing.T, pub *Bus, invs []*memInvalidator, path string) {
	t.Helper()
	r := Request{URLs: []string{"http://www.example.com/" + path}}
	res, err := pub.Publish(context.Background(), r)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	sameApplies(t, invs, res.Seq, applyCall{res.Seq, r})
}

// wantReplayed checks that each bus rejected n events as replays.
func wantReplayed(t *testing.T, n float64, buses ...*Bus) {
	t.Helper()
	for _, b := range buses {
		if got := testutil.ToFloat64(b.metrics.rejected.WithLabelValues(rejectReplayed)); got != n {
			t.Errorf("%s rejected{replayed} = %v, want %v", b.opts.Node, got, n)
		}
	}
}

// A node whose clock is a minute behind the NATS server's (a broken NTP)
// publishes a purge: every node applies it. On the code before the fix
// the publisher applied it from the fast path and answered success, and
// every other node rejected it as a replay (stored a minute from its
// signed time): a purge silently dropped on all but one node.
func TestSkewedPublisherClockLosesNoPurge(t *testing.T) {
	for _, skew := range []time.Duration{-time.Minute, time.Minute} {
		t.Run(skew.String(), func(t *testing.T) {
			clock := &skewedClock{}
			clock.set(skew)
			pub, peer, invs := skewFleet(t, clock)
			publishEverywhere(t, pub, invs, "skewed")
			wantReplayed(t, 0, pub, peer)
			if got := testutil.ToFloat64(pub.metrics.clockOffset); got < -skew.Seconds()-1 || got > -skew.Seconds()+1 {
				t.Errorf("clock offset gauge = %v, want about %v", got, -skew.Seconds())
			}
			if p := pub.Problem(); !strings.Contains(p, "clock") {
				t.Errorf("Problem() = %q, want the clock named", p)
			}
		})
	}
}

// The publisher's clock jumps a minute back after it measured its offset
// (a VM resumed from suspend): its next purge is stored a minute from its
// signed time, which every node rejects. The publisher sees that when it
// reads the stored time back, before the fast path could apply it
// anywhere, measures again and publishes the purge anew: every node
// applies it, and every node rejected the first copy alike. On the code
// before the fix the publisher applied the first copy from the fast path
// and answered success; the peer rejected it.
func TestClockJumpAfterMeasurementLosesNoPurge(t *testing.T) {
	clock := &skewedClock{}
	pub, peer, invs := skewFleet(t, clock)
	clock.set(-time.Minute)
	publishEverywhere(t, pub, invs, "jumped")
	// The first copy (the probe, every 10 s, measures nothing in between).
	wantReplayed(t, 1, pub, peer)
}

// A clock that no measurement can correct (each reading a minute behind
// the last) makes every event its node publishes rejected by every node,
// the one published anew too: the API answers 503 naming the clock, and
// no node applied either copy, so the nodes agree and the caller knows
// to send the purge again.
func TestUncorrectableClockIsAnErrorNotASilentDrop(t *testing.T) {
	clock := &skewedClock{}
	pub, peer, invs := skewFleet(t, clock)
	clock.drift.Store(int64(-time.Minute))
	srv := httptest.NewServer(pub.Handler())
	defer srv.Close()
	status, body := post(t, srv.URL, "t", `{"urls":["http://www.example.com/wild"]}`)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "clock") {
		t.Fatalf("POST = %d %s, want 503 naming the clock", status, body)
	}
	sameApplies(t, invs, 2, applyCall{2, Request{}})
	for n, inv := range invs {
		if got, want := inv.calls(), []applyCall{{1, Request{}}, {2, Request{}}}; !reflect.DeepEqual(got, want) {
			t.Errorf("node %d applied %+v, want both copies rejected: %+v", n, got, want)
		}
	}
	wantReplayed(t, 2, pub, peer)
}

// A node whose own clock is a minute ahead still takes fresh purges from
// the fast path: it checks their signed time against its clock corrected
// to the NATS server's. On the code before the fix it took every fast
// message for a minute old (a replay) and left all to the stream.
func TestSkewedReceiverKeepsTheFastPath(t *testing.T) {
	clock := &skewedClock{}
	clock.set(time.Minute)
	s := startServer(t, t.TempDir(), -1)
	inv := &memInvalidator{}
	startBus(t, Options{NATSURL: s.ClientURL(), Invalidator: inv, Now: clock.now})
	// The stream holds nothing: only the fast path can apply sequence 1.
	rawSender(t, s.ClientURL())(fastMsg(t, 1, urlEvent("fresh"), testSigningKey))
	waitFor(t, "the fresh fast message applied", func() bool { return len(inv.calls()) == 1 })
}
