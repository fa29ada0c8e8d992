package purge

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"edged/internal/logtest"
)

// Issue 12, finding 1: a shield given another EDGED_PURGE_TOKEN than its
// edge ignored every purge sent to the edge, with a WARN only at the first
// purge. Nodes now say hello when they connect, and a node that cannot
// verify a peer's hello (or, later, its events) logs an ERROR naming the
// token, sets edged_purge_key_mismatch and reports it in Problem, before
// any purge was made.
func TestMismatchedSigningKeysAreReportedAtStart(t *testing.T) {
	for _, tc := range []struct {
		name, otherKey, wantCause string
	}{
		{"other key", "another fleet's key", "signing keys differ"},
		{"no key", "", "has no purge signing key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shieldLogs, edgeLogs := &logtest.Buffer{}, &logtest.Buffer{}
			shield := startBus(t, Options{NATSListen: "127.0.0.1:-1", Node: "shield", Logger: debugLogger(shieldLogs)})
			// The edge starts later: it learns of the mismatch from the
			// shield's answer to its hello, the shield from the hello.
			edge := startRawBus(t, Options{NATSURL: shield.ClientURL(), NATSToken: testNATSToken,
				SigningKey: tc.otherKey, Node: "edge", Logger: debugLogger(edgeLogs)})
			waitFor(t, "the shield to report the edge", func() bool { return shield.Problem() != "" })
			if got := testutil.ToFloat64(shield.metrics.keyMismatch); got != 1 {
				t.Errorf("shield edged_purge_key_mismatch = %v, want 1", got)
			}
			out := shieldLogs.String()
			for _, want := range []string{"level=ERROR", "EDGED_PURGE_TOKEN", tc.wantCause, "peer=edge"} {
				if !strings.Contains(out, want) || !strings.Contains(shield.Problem(), "EDGED_PURGE_TOKEN") {
					t.Errorf("shield logs lack %q (problem %q):\n%s", want, shield.Problem(), out)
				}
			}
			if tc.otherKey != "" {
				// A node without a key verifies nothing, so only a keyed
				// edge can notice.
				waitFor(t, "the edge to report the shield", func() bool { return edge.Problem() != "" })
				if !strings.Contains(edgeLogs.String(), "peer=shield") {
					t.Errorf("edge logs do not name the shield:\n%s", edgeLogs.String())
				}
			}
			for _, secret := range []string{testSigningKey, tc.otherKey} {
				if secret != "" && strings.Contains(out+edgeLogs.String(), secret) {
					t.Errorf("logs contain the key %q", secret)
				}
			}
		})
	}
}

// Nodes that share the key report nothing.
func TestMatchingSigningKeysReportNothing(t *testing.T) {
	inv := &memInvalidator{}
	a := startBus(t, Options{Invalidator: inv, NATSListen: "127.0.0.1:-1", Node: "a"})
	b := startBus(t, Options{NATSURL: a.ClientURL(), Node: "b"})
	res, err := b.Publish(context.Background(), Request{Tags: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a to apply b's purge", func() bool { return len(inv.calls()) > 0 && inv.calls()[len(inv.calls())-1].Seq == res.Seq })
	for _, n := range []*Bus{a, b} {
		if p := n.Problem(); p != "" {
			t.Errorf("node %s reports %q", n.opts.Node, p)
		}
	}
}
