package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

func (s *stallingInvalidator) Invalidate(ctx context.Context, r purge.Request, seq uint64) (int, error) {
	if s.stalled.Load() {
		return 0, errors.New("stalled")
	}
	s.seq.Store(seq)
	return 1, nil
}

func (s *stallingInvalidator) Applied() (uint64, error) { return s.seq.Load(), nil }

// Issue 18: `edgectl stats` with several nodes shows, one line each, the
// sequence each applied against the stream's, so an operator sees a node
// trailing and then catching up. Real buses on a real NATS server.
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
	stats := func() string {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{"stats", "--admin", adminA, "--admin", adminB}, env(nil), &stdout, &stderr); code != exitOK {
			t.Fatalf("exit %d, stderr %q", code, stderr.String())
		}
		return stdout.String()
	}
	waitStats := func(want string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for got := stats(); got != want; got = stats() {
			if time.Now().After(deadline) {
				t.Fatalf("edgectl stats =\n%s\nwant\n%s", got, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitStats(fmt.Sprintf("%s purge: applied 2 of stream 2, lag 0 events\n%s purge: applied 0 of stream 2, lag 2 events, BEHIND\n", adminA, adminB))
	slow.stalled.Store(false)
	waitStats(fmt.Sprintf("%s purge: applied 2 of stream 2, lag 0 events\n%s purge: applied 2 of stream 2, lag 0 events\n", adminA, adminB))

	// One node: its metrics, then the same line.
	var stdout, stderr bytes.Buffer
	run(context.Background(), []string{"stats", "--admin", adminB}, env(nil), &stdout, &stderr)
	if out := stdout.String(); !strings.Contains(out, "edged_purge_applied_sequence 2\n") || !strings.HasSuffix(out, "\npurge: applied 2 of stream 2, lag 0 events\n") {
		t.Errorf("edgectl stats of one node:\n%s", out)
	}
	// A node that does not answer fails the command, the others still print.
	stdout.Reset()
	code := run(context.Background(), []string{"stats", "--admin", adminA, "--admin", "http://127.0.0.1:1"}, env(nil), &stdout, &stderr)
	if code != exitFail || !strings.Contains(stdout.String(), "applied 2 of stream 2") || !strings.Contains(stderr.String(), "127.0.0.1:1") {
		t.Errorf("one node down: exit %d stdout %q stderr %q", code, stdout.String(), stderr.String())
	}
}
