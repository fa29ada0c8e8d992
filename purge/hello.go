package purge

import (
	"encoding/json"
	"strings"

	"github.com/nats-io/nats.go"
)

// A purge made on a node whose signing key differs from its peers' is
// applied there and rejected everywhere else, and the client that sent it
// is told it succeeded. Purges are rare, so the mismatch would stay hidden
// until an object that should be gone is served. So every bus says hello
// on its own subject (Subject + ".hello", outside the stream) each time it
// connects, signed with its key, and answers the hellos of others: a node
// whose peer's hello or answer fails verification learns of the
// misconfiguration when the fleet starts, not at the first purge. Hellos
// are core NATS messages: they are not stored, and a node not connected
// at the time simply hears the next one.

// helloContext separates the signatures of hellos from purge events', so
// a hello copied into the purge subject never verifies as an event.
const helloContext = "edged purge hello v1\n"

// hello is the body of a hello or of its answer.
type hello struct {
	Node     string `json:"node"`
	Instance string `json:"instance"` // random per Bus: a node ignores its own hellos
	Answer   bool   `json:"answer,omitempty"`
}

func (b *Bus) helloSubject() string { return b.opts.Subject + ".hello" }

// subscribeHello listens to the hellos of other nodes.
func (b *Bus) subscribeHello(nc *nats.Conn) error {
	return b.subscribeCore(nc, b.helloSubject(), b.onHello)
}

// sayHello publishes this node's signed hello (or an answer to another's).
// A failure only costs the early warning, so it is logged at debug level.
func (b *Bus) sayHello(answer bool) {
	data, err := json.Marshal(hello{Node: b.opts.Node, Instance: b.instance, Answer: answer})
	if err != nil {
		return
	}
	// A node without a key still says hello (unsigned), so that its keyed
	// peers learn that it has none.
	b.sendCore(b.helloSubject(), helloContext, data, "hello")
}

func (b *Bus) onHello(msg *nats.Msg) {
	var h hello
	if err := json.Unmarshal(msg.Data, &h); err != nil || h.Instance == b.instance {
		return
	}
	if reason := b.signer.verifyAs(helloContext, msg.Header, msg.Data); reason != "" && b.firstMismatch(h.Node) {
		// The node name is unverified, but it is only a hint for the
		// operator.
		b.keyMismatch(reason, "peer", h.Node)
	}
	if !h.Answer {
		// Answer every hello, verified or not: the newcomer then learns
		// of the mismatch too. Answers are never answered.
		b.sayHello(true)
	}
}

// keyMismatch logs, at ERROR with the likely cause, a message of a peer
// (a hello or a purge event) that this node cannot verify, sets
// edged_purge_key_mismatch and keeps the problem for Problem.
func (b *Bus) keyMismatch(reason string, attrs ...any) {
	cause := "the nodes' purge signing keys differ: every node of a fleet must be given the same EDGED_PURGE_TOKEN (or purge.token, or the variable purge.signing_key_env names)"
	if reason == rejectUnsigned {
		cause = "a peer has no purge signing key, so it signs nothing: give every node of the fleet the same EDGED_PURGE_TOKEN (or purge.token, or purge.signing_key_env)"
	}
	// Logged before Problem and the metric report it, so that whoever sees
	// those finds the reason in the log already.
	b.log.Error("purge bus: message from a peer rejected: purges made on either node are ignored by the other",
		append([]any{"reason", reason, "likely_cause", cause}, attrs...)...)
	problem := "purge bus: a peer's messages fail verification (" + reason + "); " + cause
	b.metrics.keyMismatch.Set(1)
	b.problem.Store(&problem)
}

// Problem describes a misconfiguration of the fleet this bus detected, for
// a health endpoint; "" when none was seen: NATS refusing this node's token
// (until a connection succeeds), or a peer whose purges and hellos it
// cannot verify since it started. The latter stays set until restart: a
// fleet with one mismatched node stays broken while the others verify.
// And, while it lasts, a clock measured over clockSkewAlarm off the NATS
// server's (clock.go). Several are joined on one line.
func (b *Bus) Problem() string {
	var problems []string
	if b.authRefused.Load() {
		problems = append(problems, "purge bus: NATS refuses this node's token (Authorization Violation); "+natsTokenHint)
	} else if p := b.problem.Load(); p != nil {
		problems = append(problems, *p)
	}
	if p := b.clockProblem.Load(); p != nil {
		problems = append(problems, *p)
	}
	return strings.Join(problems, "; and ")
}

// maxReportedPeers bounds the peers whose mismatched hellos are logged: a
// client of the bus could otherwise send hellos under endless names.
const maxReportedPeers = 64

// firstMismatch reports whether peer's hellos have not failed before, so
// that a peer reconnecting (or a flood of hellos) logs one ERROR, not one
// per hello.
func (b *Bus) firstMismatch(peer string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, seen := b.mismatched[peer]; seen || len(b.mismatched) >= maxReportedPeers {
		return false
	}
	b.mismatched[peer] = struct{}{}
	return true
}
