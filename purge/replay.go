package purge

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Replays. A signed event stays valid forever, and anyone who may publish
// on the bus can read it there and publish it again: every node would
// apply the copy, and a copied "purge all" empties every cache of the
// fleet at once (an origin-load attack). So the stream's copy of a signed
// event is applied only when two things hold that no publisher can forge:
//
//   - JetStream stored it within replayWindow of the time its publisher
//     signed in it. The stored time is the stream's own (in the message
//     metadata, set by the server, like the sequence), so a copy published
//     later is stored later. A node catching up after an hour, or a week,
//     reads the old events with their old stored times: nothing here
//     reads the node's own clock.
//   - Its Nats-Msg-Id header is its event ID, as every publisher sets it
//     (publishAcked). JetStream stores a message ID once within the
//     stream's Duplicates window (2 minutes): a copy made within
//     replayWindow of the original must keep the ID to be applied, and
//     then the stream drops it (the publisher is answered "duplicate").
//     Since the original too was stored within replayWindow of the signed
//     time, a copy inside the window comes at most 2*replayWindow after
//     it: inside the Duplicates window.
//
// A copy that fails either is rejected as an unsigned event is: not
// applied, logged, counted in edged_purge_rejected_total{reason="replayed"},
// its sequence recorded. The early path keeps its own record of the IDs it
// has seen (early.go), and the fast path takes only fresh events
// (fast.go).
//
// The price: a publisher's signed time and the stream leader's clock must
// agree within replayWindow less the publish's own retries
// (publishTimeout), or its purges are rejected everywhere. So a node signs
// with its clock corrected to the server's, checks its own stored event
// before the fast path may apply it, and publishes anew a purge whose
// event fails (clock.go). Without a signing key nothing is checked: on
// such a bus anyone can publish a purge anyway.

// replayWindow is how far from its signed time an event may be stored.
const replayWindow = 30 * time.Second

// rejectReplayed is the edged_purge_rejected_total reason of a replay.
const rejectReplayed = "replayed"

// eventStamp is what the replay check reads of an event: its ID and its
// signed time, decoded leniently, so that an event of a newer format is
// checked as well (it is applied as the all+soft purge, see applyCopy).
type eventStamp struct {
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
}

// replayOf returns why a signed event the stream stored at stored, with
// headers h and body data, is a replay ("" when it is not), and the event
// ID in data ("" when it has none).
func (b *Bus) replayOf(h nats.Header, data []byte, stored time.Time) (id, why string) {
	var st eventStamp
	_ = json.Unmarshal(data, &st) // what does not decode has no ID: rejected below
	if st.ID == "" || h.Get(jetstream.MsgIDHeader) != st.ID {
		return st.ID, "its Nats-Msg-Id is not its event id (a copy published again without the id the stream deduplicates)"
	}
	if d := stored.Sub(st.Time); d > b.replayWindow || d < -b.replayWindow {
		return st.ID, fmt.Sprintf("stored %v from its signed time, over %v (a copy published again, or the publisher's clock is that far off the NATS server's)",
			d.Round(time.Millisecond), b.replayWindow)
	}
	return st.ID, ""
}

// checkDuplicatesWindow warns when the stream deduplicates message IDs for
// less than 2*replayWindow (an operator's stream, or a retention below
// it): a replay made soon after the original is then stored and applied.
func (b *Bus) checkDuplicatesWindow(cfg jetstream.StreamConfig) {
	if b.signer == nil || cfg.Duplicates >= 2*b.replayWindow || !b.dupWarned.CompareAndSwap(false, true) {
		return
	}
	b.log.Warn("purge stream deduplicates message ids for less than twice the replay window: a signed event copied and published again soon after it may be applied again",
		"stream", cfg.Name, "duplicates", cfg.Duplicates, "want_at_least", 2*b.replayWindow)
}
