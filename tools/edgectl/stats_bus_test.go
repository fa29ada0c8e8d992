package main

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"edged/purge"
)

// stallingInvalidator fails while stalled is set, as a node whose cache
// cannot apply purges does.
type stallingInvalidator struct {
	stalled atomic.Bool
	seq     atomic.Uint64
}

func (s *stallingInvalidator) Invalidate(_ context.Context, _ purge.Request, seq uint64) (int, error) {
	if s.stalled.Load() {
		return 0, errors.New("stalled")
	}
	s.seq.Store(seq)
	return 1, nil
}

func (s *stallingInvalidator) Applied() (uint64, error) { return s.seq.Load(), nil }

// Issue 18: `edgectl stats` over several nodes shows each one's applied
// purge sequence and how many events of the stream it has not applied, so
// an operator sees a node trailing and then catching up. Real buses on a
// real NATS server; the BEHIND column counts from the stream's last
// sequence as the node last saw it (its probe of the stream, or its
// events), so a node that applies nothing still shows what it misses.
func TestStatsShowsEachNodesAppliedSequence(t *testing.T) {
	node := func(opts purge.Options) (*purge.Bus, string) {
		reg := prometheus.NewRegistry()
		opts.Registerer, opts.Token = reg, "s3cret"
		opts.MaxLag = 50 * time.Millisecond
		b, err := purge.New(opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		if err := b.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		t.Cleanup(srv.Close)
		return b, srv.URL
	}
	a, adminA := node(purge.Options{Invalidator: &stallingInvalidator{}, StoreDir: t.TempDir(), NATSListen: "127.0.0.1:-1", AllowUnauthenticatedNATS: true, Node: "a"})
	slow := &stallingInvalidator{}
	slow.stalled.Store(true)
	_, adminB := node(purge.Options{Invalidator: slow, NATSURL: a.ClientURL(), Node: "b"})
	for range 2 {
		if _, err := a.Publish(context.Background(), purge.Request{Tags: []string{"t"}}); err != nil {
			t.Fatal(err)
		}
	}
	// purgeColumns returns each node's PURGE SEQ and BEHIND cells.
	purgeColumns := func() []string {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{"stats", "-i", "10ms", adminA, adminB}, env(nil), &stdout, &stderr); code != exitOK {
			t.Fatalf("exit %d, stderr %q", code, stderr.String())
		}
		var out []string
		for _, row := range strings.Split(strings.TrimSpace(stdout.String()), "\n")[1:] {
			f := strings.Fields(row) // NODE REQ/S HIT% ERR/S P95 SEQ BEHIND LAG
			out = append(out, f[5]+" "+f[6])
		}
		return out
	}
	waitColumns := func(want ...string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for got := purgeColumns(); strings.Join(got, ",") != strings.Join(want, ","); got = purgeColumns() {
			if time.Now().After(deadline) {
				t.Fatalf("edgectl stats purge columns = %q, want %q", got, want)
			}
		}
	}
	waitColumns("2 0", "0 2") // b trails by the two purges it cannot apply
	slow.stalled.Store(false)
	waitColumns("2 0", "2 0") // and catches up
}
