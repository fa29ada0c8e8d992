package purge

import (
	"bytes"
	"context"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

// The fast path. A purge reaches a node's consumer only once the stream
// has committed it and the server holding the consumer has stored it: on a
// NATS cluster with the stream replicated three ways that came 1.5 ms
// after the publisher's acknowledgement at p50 and 4 to 17 ms at p90 on
// the loaded bench machine (issue 18). So, once JetStream has
// acknowledged a purge, its publisher also sends it with its stream
// sequence on the core subject Subject+".fast" (not stored, one message
// fanned out by the servers), and a node applies it from there when it is
// the next one it needs: sequence = applied + 1. Anything else (a purge it
// is not ready for, a message lost, a node that just reconnected) is left
// to the stream, which delivers every event in order as before: the fast
// path can only make an apply earlier, never skip, reorder or repeat one,
// and a node whose NATS permissions forbid the subject loses nothing but
// the speed. The stream's later copy of an event applied this way is
// skipped without being counted as a duplicate.
//
// The message is the decimal sequence, a newline and the event exactly as
// stored, signed under its own context (fastContext), so that a signed
// event replayed with another sequence does not verify. The publisher
// sends it only once it has read the stored copy back and found that
// every node will apply it (replay.go's check; clock.go): the fast path
// must never apply what the stream path rejects, or nodes would disagree.

// Without a signing key (an unauthenticated bus) the fast path is off:
// nothing would authenticate a message's claim to a sequence, and a client
// holding the NATS token could send a harmless event under the stream's
// next sequence, so that the genuine event stored there is skipped as
// applied, silently (no gap). The stream's own sequence cannot be forged.
// (TestUnsignedFastPathCannotTakeASequence.)

// A signed fast message says nothing of which incarnation of the stream
// holds its sequence: after the stream is deleted and recreated (sequences
// start again at 1), a client holding the NATS token could replay an old
// signed message under a sequence the new stream reuses, and the genuine
// event stored there would be skipped as applied. So a node remembers the
// event ID the fast path applied at each of its last fastRemembered
// sequences, and when the stream first delivers one of them with another
// event, it applies the stream's too: purges are idempotent, so the extra
// apply costs only misses. (TestFastReplayAcrossStreamsCannotHideAnEvent.)

// fastRemembered bounds the fast applies remembered: a consumer trailing
// the fast path by more (a stream copy delivered over fastRemembered
// purges late) is skipped as before.
const fastRemembered = 1024

// fastApply is one fast apply remembered: its sequence and event ID.
type fastApply struct {
	seq uint64
	id  string
}

// fastTookOther reports whether the fast path applied at seq an event
// other than id. The caller holds applyMu.
func (b *Bus) fastTookOther(seq uint64, id string) bool {
	f := b.fastApplied[seq%fastRemembered]
	return f.seq == seq && f.id != id
}

// fastContext separates fast-path signatures from event and hello ones.
const fastContext = "edged purge fast v1\n"

func (b *Bus) fastSubject() string { return b.opts.Subject + ".fast" }

func (b *Bus) subscribeFast(nc *nats.Conn) error {
	if b.signer == nil {
		return nil // off without a key (see above)
	}
	return b.subscribeCore(nc, b.fastSubject(), b.onFast)
}

// announce sends the acknowledged event data, stored at seq, on the fast
// subject. A failure only costs the speed: the stream delivers it.
func (b *Bus) announce(seq uint64, data []byte) {
	if b.signer == nil {
		return // no node listens without a key (see above)
	}
	body := strconv.AppendUint(make([]byte, 0, 21+len(data)), seq, 10)
	body = append(append(body, '\n'), data...)
	b.sendCore(b.fastSubject(), fastContext, body, "fast path", "seq", seq)
}

// onFast applies a fast-path event if it is the next one this node needs
// (see the comment at the top of this file).
func (b *Bus) onFast(msg *nats.Msg) {
	received := b.now()
	if b.signer == nil || b.signer.verifyAs(fastContext, msg.Header, msg.Data) != "" {
		return // the stream's copy is verified, and rejected, on its own
	}
	num, data, ok := bytes.Cut(msg.Data, []byte("\n"))
	if !ok {
		return
	}
	seq, err := strconv.ParseUint(string(num), 10, 64)
	if err != nil {
		return
	}
	ev, err := decodeEvent(data)
	if err != nil {
		return // the stream's copy is applied as the safe all+soft purge
	}
	if age := received.Sub(ev.Time); age > b.replayWindow || age < -b.replayWindow {
		// A publisher sends it just after the acknowledgement: an old one
		// is a copy (replay.go), from an earlier incarnation of the stream
		// if its sequence is the next one. The stream's copy is checked.
		return
	}
	ev.received, ev.fast = received, true
	b.applyMu.Lock()
	defer b.applyMu.Unlock()
	if b.closed.Load() || seq != b.applied.Load()+1 {
		return
	}
	// One attempt: a failing Invalidate is the stream path's to retry.
	start := time.Now()
	n, err := b.opts.Invalidator.Invalidate(context.Background(), ev.Request, seq)
	if err != nil {
		b.metrics.failures.Inc()
		b.log.Debug("purge bus: fast path apply failed; the stream delivers it", "seq", seq, "err", err)
		return
	}
	b.health.saw(seq) // the stream holds it: its publisher had the acknowledgement
	b.recordApplied(seq)
	b.fastApplied[seq%fastRemembered] = fastApply{seq, ev.ID}
	b.metrics.fast.Inc()
	b.observe(ev, seq, n, time.Since(start))
}
