package purge

import (
	"context"
	"fmt"
	"time"
)

// Clocks. The replay check (replay.go) compares the time a publisher
// signs in an event with the time the stream stored it, which the NATS
// server stamps: two clocks. A node whose clock was off the server's by
// more than replayWindow (a broken NTP, a VM resumed from suspend) had
// every purge it published rejected as a replay by every node that took
// it from the stream, while it applied the purge from its own fast path
// and answered success: a purge silently dropped on the other nodes
// (TestSkewedPublisherClockLosesNoPurge). So:
//
//   - Each node measures its clock's offset to the stream's server as NTP
//     does: the server's time in a stream info answer ("ts", stamped by
//     the stream's leader, which also stamps stored messages) against the
//     midpoint of the request's local send and answer times, half the
//     round trip being the error. It does so at each session's start and
//     at each probe of the stream (every MaxLag/3, at most 10 s). The
//     time it signs in events is its clock corrected by the offset, and
//     the fast and early paths check freshness against that corrected
//     clock too.
//   - The publisher reads back the stored time of its own event after the
//     acknowledgement and runs on it the check every node runs on the
//     stream's copy (publish.go, verifyStored). Only an event that passes
//     is sent on the fast path, so the fast path never applies what the
//     stream path rejects: every node makes the same decision, the
//     stream's. One that fails (the clock jumped since it was measured)
//     is rejected by every node alike; the publisher measures again and
//     publishes the purge anew, once, signed with the corrected time
//     (TestClockJumpAfterMeasurementLosesNoPurge). When that fails too,
//     Publish returns ErrClockSkew (the API answers 503), never success.
//   - An offset over clockSkewAlarm is logged at ERROR, named by Problem
//     (a warning line on /healthz) and exported, like every offset, as
//     edged_purge_clock_offset_seconds.
//
// Catching up is unchanged: the stream's check compares two times the
// stream holds, never a node's clock.

// clockSkewAlarm is the offset to the NATS server's clock over which a
// node's clock is reported as wrong. NTP keeps clocks within milliseconds.
const clockSkewAlarm = 5 * time.Second

// maxSampleRTT bounds the round trip of a measurement that is taken: its
// error is at most half of it.
const maxSampleRTT = 2 * time.Second

// now is this node's clock corrected to the NATS server's, without a
// monotonic reading (it is compared with other nodes' and the server's
// times).
func (b *Bus) now() time.Time {
	return b.opts.Now().Add(time.Duration(b.offset.Load())).Round(0)
}

// measureClock records one measurement: the server said its time was
// server between the local times sent and answered (b.opts.Now).
func (b *Bus) measureClock(sent, answered, server time.Time) {
	rtt := answered.Sub(sent)
	if server.IsZero() || rtt < 0 || rtt > maxSampleRTT {
		return // a server that sends no "ts", or too slow to tell
	}
	off := server.Sub(sent.Add(rtt / 2).Round(0))
	b.offset.Store(int64(off))
	b.metrics.clockOffset.Set(off.Seconds())
	if off.Abs() <= clockSkewAlarm {
		if b.clockProblem.Swap(nil) != nil {
			b.log.Info("purge bus: this node's clock agrees with the NATS server's again", "offset", off, "error", rtt/2)
		}
		return
	}
	problem := fmt.Sprintf("purge bus: this node's clock is %v off the NATS server's (measured within %v); purges are signed with the server's time, but fix the node's time synchronization (NTP)",
		off.Round(time.Millisecond), (rtt / 2).Round(time.Millisecond))
	if b.clockProblem.Swap(&problem) == nil {
		b.log.Error("purge bus: this node's clock is off the NATS server's; signing purges with the server's time",
			"offset", off, "error", rtt/2, "alarm_over", clockSkewAlarm,
			"likely_cause", "no time synchronization (NTP) on this node or on the NATS server, or a VM resumed from suspend")
	}
}

// measureNow asks the stream for its info to measure the clock at once.
func (b *Bus) measureNow(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	sent := b.opts.Now()
	s, err := b.js.Stream(ctx, b.opts.Stream)
	if err != nil {
		return fmt.Errorf("%w: measuring the clock: stream info: %v", ErrUnavailable, err)
	}
	b.measureClock(sent, b.opts.Now(), s.CachedInfo().TimeStamp)
	return nil
}
