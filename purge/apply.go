package purge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"edged/internal/settingsdiff"
)

// event is the payload of one purge message on the subject.
type event struct {
	ID      string    `json:"id"`
	Node    string    `json:"node"`
	Time    time.Time `json:"time"`
	Request Request   `json:"request"`

	// received is when this node's consumer handed the event over (not
	// sent): with Time it splits a purge's lag into delivery and apply.
	received time.Time
	// fast: it came from the fast path (fast.go), not the stream.
	fast bool
}

// applyResult is what the local apply of an event tells its publisher.
type applyResult struct {
	count int
	took  time.Duration
	// rejected says why the stream's copy was rejected as a replay ("" when
	// applied): the publisher's clock is off (clock.go).
	rejected string
}

// staleAll is the purge a node applies when it cannot know what it missed.
var staleAll = Request{All: true, Soft: true, StandIn: true}

// decodeEvent decodes strictly: an event this node cannot fully understand
// (a newer selector kind, say) must not be applied partially.
func decodeEvent(data []byte) (event, error) {
	var ev event
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		return event{}, fmt.Errorf("%w: event: %v", ErrInvalid, err)
	}
	if ev.Request.All {
		// Nodes older than the rule that all stands alone published all
		// with other selectors; all covers them, and skipping the event
		// would lose a purge of everything.
		ev.Request = Request{All: true, Soft: ev.Request.Soft}
	}
	if err := ev.Request.Validate(); err != nil {
		return event{}, fmt.Errorf("event %s: %w", ev.ID, err)
	}
	return ev, nil
}

// consumerHeartbeat is how often the server that holds this node's
// consumer tells it that it is alive. On a NATS cluster the consumer may
// live on a server other than the one the node is connected to; when that
// server dies, the node notices after two missed heartbeats and a new
// session makes a new consumer, from the next sequence, on a live server.
// nats.go's default (5s) would leave a node without purges for 10s; a
// heartbeat is one small message a second per node.
const consumerHeartbeat = time.Second

// consumerInactive is how long the server keeps a session's consumer
// after the node stopped pulling from it (it moved to a new session, or
// went away).
const consumerInactive = 30 * time.Second

// run keeps one session going while the bus is open: it waits for a
// connection, runs a session, and starts a new one after a reconnect or a
// failure.
func (b *Bus) run(ctx context.Context) {
	delay := newBackoff()
	for {
		if !b.waitConnected(ctx) {
			return
		}
		err := b.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			delay.reset()
			continue
		}
		b.log.Error("purge bus: session failed, retrying", "err", err)
		select {
		case b.startErr <- err:
		default:
		}
		if !sleep(ctx, delay.next()) {
			return
		}
	}
}

// waitConnected polls until NATS is connected; the client reconnects by
// itself.
func (b *Bus) waitConnected(ctx context.Context) bool {
	for !b.nc.IsConnected() {
		if !sleep(ctx, 50*time.Millisecond) {
			return false
		}
	}
	return true
}

// session ensures the stream, checks for a gap since the applied sequence,
// then applies events in order until the connection changes (nil) or
// something fails (error).
func (b *Bus) session(ctx context.Context) error {
	epoch := b.epoch.Load()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := b.ensureStream(ctx)
	if err != nil {
		return err
	}
	b.checkDuplicatesWindow(stream.CachedInfo().Config)
	b.stream.Store(&stream)
	// Every connection (the first, and each reconnect) tells the peers
	// this node is here, so a key mismatch shows at once (hello.go).
	b.sayHello(false)
	start, state, err := b.startAfter(ctx, stream)
	if err != nil {
		return err
	}
	target := state.LastSeq
	b.health.answered(target)
	b.checkReady(target)
	if b.sessionHook != nil {
		b.sessionHook()
	}
	// An ephemeral consumer of this session, in memory, that delivers in
	// stream order from start (after the last sequence the stream
	// delivered here, at most fastRemembered before the applied one: the
	// copies of fast applies, which handle compares) and expects no
	// acknowledgements: the applied sequence the cache records is this
	// node's place in the stream, not the consumer's. nats.go's ordered
	// consumer would do the same but, when its server dies, it recreates
	// itself with a 10s timeout per attempt and back-off from 1s, which on
	// the cluster test held a node for up to 11s while the stream elected
	// a leader; here the session ends instead and the next one starts
	// with apiTimeout and the run loop's short back-off.
	cons, err := b.js.CreateConsumer(ctx, b.opts.Stream, jetstream.ConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       start,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: consumerInactive,
	})
	if err != nil {
		return fmt.Errorf("%w: consumer: %v", ErrUnavailable, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(256), jetstream.PullHeartbeat(consumerHeartbeat))
	if err != nil {
		return fmt.Errorf("%w: consume: %v", ErrUnavailable, err)
	}
	// The session ends when the bus closes or reconnects, or when the
	// consumer fails (two heartbeats missed: its server died). Next is
	// given the session's context as well as Stop, so that no Stop can be
	// missed.
	session, endSession := context.WithCancel(ctx)
	defer endSession()
	go b.watchPull(session, endSession, cons, cons.CachedInfo().Config)
	go func() {
		defer it.Stop()
		defer endSession()
		for {
			select {
			case <-session.Done():
				return
			case <-b.reconnect:
				if b.epoch.Load() != epoch {
					return
				}
			}
		}
	}()
	for {
		msg, err := it.Next(jetstream.NextContext(session))
		if err != nil {
			if session.Err() != nil || b.epoch.Load() != epoch {
				return nil // closing, or reconnected: a new session checks for gaps
			}
			return fmt.Errorf("%w: next event: %v", ErrUnavailable, err)
		}
		if err := headersOnly(session, cons, msg); err != nil {
			return err
		}
		if err := b.handle(ctx, msg); err != nil {
			return err
		}
		b.checkReady(target)
	}
}

// startAfter begins a session at the stream state st: when the stream lost
// events after the applied sequence, the whole cache is marked stale. It
// returns the sequence the session's consumer starts at: the one after the
// last the stream delivered here (streamSeen), not after the applied one,
// so that the stream delivers its copy of every fast apply and handle
// compares it (fastTookOther), at most fastRemembered of them (older
// ones are not remembered). It is taken here, under applyMu with
// streamSeq's reset, so that a fast apply made after it is covered too.
// Starting after the applied sequence, as the consumer did, a replayed
// fast message applied before a session began, or before its consumer
// was made, moved the start past the genuine event stored at its
// sequence, which the stream then never delivered
// (TestFastReplayAtSessionStartCannotHideAnEvent,
// TestFastReplayAcrossSessionsCannotHideAnEvent).
//
// The stream's state is read under applyMu too. Read before it, a purge
// published meanwhile and applied here at once (this node's own, or a
// peer's fast copy) made the applied sequence pass the stream's last one
// as read, which looked like a stream recreated with events lost: the
// whole cache was marked stale after a reconnect (TestNATSOutages, under
// load).
func (b *Bus) startAfter(ctx context.Context, stream jetstream.Stream) (uint64, jetstream.StreamState, error) {
	b.applyMu.Lock()
	defer b.applyMu.Unlock()
	sent := b.opts.Now()
	info, err := stream.Info(ctx)
	if err != nil {
		return 0, jetstream.StreamState{}, fmt.Errorf("%w: stream info: %v", ErrUnavailable, err)
	}
	b.measureClock(sent, b.opts.Now(), info.TimeStamp) // clock.go
	st := info.State
	b.streamSeq = 0 // this session's consumer delivers from the returned start
	if err := b.checkStream(ctx, info); err != nil {
		return 0, st, err
	}
	if next, gap := gapAfter(b.applied.Load(), st); gap {
		b.log.Warn("purge stream lost events this node never applied; marking the whole cache stale",
			"applied", b.applied.Load(), "first", st.FirstSeq, "last", st.LastSeq)
		b.metrics.gaps.Inc()
		if err := b.apply(ctx, event{ID: "gap", Node: b.opts.Node, Request: staleAll}, next-1); err != nil {
			return 0, st, err
		}
	} else if applied := b.applied.Load(); applied < st.LastSeq {
		stored, err := b.lastStored(ctx, stream, st)
		if err != nil {
			return 0, st, err
		}
		if stored < st.LastSeq {
			// The stream's last events were deleted (a client holding
			// the NATS token, or an operator removing a message): no
			// delivery will ever reach st.LastSeq, which the session
			// waits for. Before, Start waited for it until its deadline
			// and the node did not start; and the events this node
			// missed there may have been hard purges.
			b.log.Warn("purge stream's last events were deleted before this node applied them; marking the whole cache stale",
				"applied", applied, "last stored", stored, "last", st.LastSeq)
			b.metrics.gaps.Inc()
			if err := b.apply(ctx, event{ID: "gap", Node: b.opts.Node, Request: staleAll}, st.LastSeq); err != nil {
				return 0, st, err
			}
		}
	}
	applied := b.applied.Load()
	// After a gap the stream restarts below what it delivered before.
	b.streamSeen = max(min(b.streamSeen, applied), applied-min(applied, fastRemembered))
	return b.streamSeen + 1, st, nil
}

// streamIdentity names the stream info describes, as long as it exists: a
// stream deleted and made again under the same name, or another server's
// (cluster's) stream, has another creation time.
func streamIdentity(info *jetstream.StreamInfo) string {
	return info.Config.Name + " " + info.Created.UTC().Format(time.RFC3339Nano)
}

// checkStream compares the stream the session reads with the one the
// applied sequence was recorded in (StreamRecorder). A node whose recorded
// stream is another one marks its whole cache stale (the purges it missed
// between its last apply on the old stream and its move, on either, are
// unknown) and records the sequence before the new stream's first event,
// so that the session applies every event the new stream holds; before, a
// node whose applied sequence the new stream had already passed skipped
// the new stream's events up to it without a word. One that recorded no
// stream (none applied yet, or a node upgraded from a version that did not
// record it) records this one at its applied sequence. The caller holds
// applyMu.
func (b *Bus) checkStream(ctx context.Context, info *jetstream.StreamInfo) error {
	rec, ok := b.opts.Invalidator.(StreamRecorder)
	if !ok {
		return nil
	}
	id := streamIdentity(info)
	was, err := rec.AppliedStream()
	if err != nil {
		return fmt.Errorf("purge: applied stream: %w", err)
	}
	b.streamID = id // every apply from now on records it (invalidate)
	switch was {
	case id:
		return nil
	case "":
		// Recorded now rather than with the next purge, which a move to
		// another stream could come before.
		_, _, err := b.invalidate(ctx, "stream", Request{}, b.applied.Load())
		return err
	}
	next := firstHeld(info.State)
	b.log.Warn("purge stream is not the one this node applied purges from; marking the whole cache stale and applying the new stream from its first event",
		"stream", id, "recorded", was, "applied", b.applied.Load(), "first", next)
	b.metrics.gaps.Inc()
	return b.apply(ctx, event{ID: "gap", Node: b.opts.Node, Request: staleAll}, next-1)
}

// pullCheckInterval and pullRegisterTimeout pace watchPull.
const (
	pullCheckInterval   = 25 * time.Millisecond
	pullRegisterTimeout = 500 * time.Millisecond
)

// watchPull ends the session when its consumer never got the session's
// first pull request. On the cluster test, about one run in ten, a node's
// first pull after creating its consumer on another server was lost (no
// error: a request finds no interest yet on its way through the routes),
// and the node got nothing until nats.go, seeing no heartbeat for twice
// consumerHeartbeat, pulled again: the first purge after the session
// started reached that node 1.8 s late (2 s less the time between its
// Next and the publish). The consumer's own server says whether a pull
// is waiting (NumWaiting) or a message went out; when neither holds for
// pullRegisterTimeout the session ends and the next one makes a new
// consumer from the applied sequence. Restarting the iterator on the
// same consumer instead could lose events sent to a pull that was only
// late (no acknowledgements), which the node would see as a gap.
func (b *Bus) watchPull(ctx context.Context, end context.CancelFunc, cons jetstream.Consumer, made jetstream.ConsumerConfig) {
	deadline := time.Now().Add(pullRegisterTimeout)
	for sleep(ctx, pullCheckInterval) {
		info, err := cons.Info(ctx)
		switch {
		case err != nil:
			// An answer may be slow on a loaded server; only a consumer
			// that said it has no pull ends the session.
			if time.Now().After(deadline) {
				b.log.Warn("purge bus: could not check that the consumer got this node's pull request", "err", err)
				b.guardConsumer(ctx, end, cons, made)
				return
			}
		case info.NumWaiting > 0 || info.Delivered.Consumer > 0:
			b.guardConsumer(ctx, end, cons, made)
			return
		case time.Now().After(deadline):
			b.log.Warn("purge bus: the consumer never got this node's pull request; starting a new session",
				"consumer", info.Name, "server", b.serverName(b.nc))
			b.metrics.lostPulls.Inc()
			end()
			return
		}
	}
}

// guardConsumer ends the session when another client changed its
// consumer's settings, every probe interval until the session ends. The
// server cannot tell whose a consumer is: any client allowed to create
// consumers of the stream (on the embedded server, any holder of the NATS
// token) can update this one under its name. A filter subject that no
// event matches, or headers only, stopped every node's stream deliveries:
// an event that only the stream carried (a raw client's, or one whose
// publisher's fast message was lost) was never delivered, every later
// purge waited for it, and each publish answered "not yet applied" after
// 20 s, for as long as the session lasted. A new session makes a new
// consumer from the applied sequence, so the change costs at most one
// probe interval's delay, and nothing is skipped. The price: one more
// small request per node and probe interval (the stream probe's rate).
// made is the consumer's
// settings as the server created them (cons's cached info follows Info).
func (b *Bus) guardConsumer(ctx context.Context, end context.CancelFunc, cons jetstream.Consumer, made jetstream.ConsumerConfig) {
	want := comparableConsumer(made)
	for sleep(ctx, probeInterval(b.opts.MaxLag)) {
		info, err := cons.Info(ctx)
		if err != nil {
			continue // gone or unreachable: the session's heartbeats tell
		}
		if have := comparableConsumer(info.Config); info.Paused || !reflect.DeepEqual(have, want) {
			b.log.Warn("purge bus: another client changed this node's consumer of the stream; starting a new session",
				"consumer", info.Name, "paused", info.Paused, "filter", have.FilterSubject, "filters", have.FilterSubjects,
				"headers_only", have.HeadersOnly)
			end()
			return
		}
	}
}

// headersOnly fails when msg came without its body because another client
// set the consumer to deliver headers only (guardConsumer notices that
// later): every node took such an event for unsigned, rejected it and
// recorded its sequence, so a purge the stream alone carried was lost. The
// header JetStream then adds, Nats-Msg-Size, can also be one a publisher
// set, so the consumer's settings decide.
func headersOnly(ctx context.Context, cons jetstream.Consumer, msg jetstream.Msg) error {
	if msg.Headers().Get(nats.MsgSize) == "" {
		return nil
	}
	info, err := cons.Info(ctx)
	switch {
	case err != nil:
		return fmt.Errorf("%w: checking a consumer that may deliver headers only: %v", ErrUnavailable, err)
	case info.Config.HeadersOnly:
		return fmt.Errorf("%w: another client set this node's consumer to deliver headers only", ErrUnavailable)
	}
	return nil
}

// comparableConsumer is cfg without what the server may set by itself
// (its version in the metadata, which changes with the leader's server).
func comparableConsumer(cfg jetstream.ConsumerConfig) jetstream.ConsumerConfig {
	cfg.Metadata = nil
	return cfg
}

// ensureStream looks the stream up and creates it when it is missing, or
// asks to update it when its settings differ from this node's. Looking up
// is answered by the stream's leader; creating or updating needs
// JetStream's meta leader too, which on a cluster may have died with the
// server this node just left (a reconnected node then waited the whole API
// timeout, 5s, before applying anything), so a node whose settings match
// asks nothing more. A node may not be allowed to change the stream: on
// the embedded server only the node that embeds it is (embeddedAuth), on a
// cluster its operator decides. Refused, the node uses the stream as it
// is, logs what differs, and asks no more for the bus's life.
func (b *Bus) ensureStream(ctx context.Context) (jetstream.Stream, error) {
	cfg := jetstream.StreamConfig{
		Name:       b.opts.Stream,
		Subjects:   []string{b.opts.Subject},
		Storage:    jetstream.FileStorage,
		Retention:  jetstream.LimitsPolicy,
		MaxAge:     b.opts.Retention,
		Replicas:   b.opts.Replicas,
		Duplicates: min(2*time.Minute, b.opts.Retention), // JetStream requires window <= max age
	}
	s, err := b.js.Stream(ctx, b.opts.Stream)
	switch {
	case err == nil && sameStream(s.CachedInfo().Config, cfg):
		return s, nil
	case err == nil && b.updateRefused.Load():
		return s, nil
	case err != nil && !errors.Is(err, jetstream.ErrStreamNotFound):
		return nil, fmt.Errorf("%w: stream %s: %v", ErrUnavailable, b.opts.Stream, err)
	}
	write := b.js.UpdateStream
	if err != nil {
		s, write = nil, b.js.CreateStream
	}
	wctx, cancel := b.streamWriteContext(ctx)
	defer cancel()
	written, err := write(wctx, cfg)
	if err == nil {
		return written, nil
	}
	refused := errors.Is(context.Cause(wctx), errNotPermitted)
	if refused {
		err = context.Cause(wctx)
	}
	if s == nil {
		return nil, fmt.Errorf("%w: stream %s: %v", ErrUnavailable, b.opts.Stream, err)
	}
	b.updateRefused.Store(refused)
	b.log.Warn("purge bus: cannot update the stream, using it as it is: its settings differ from this node's",
		"stream", b.opts.Stream, "differs", streamDiff(s.CachedInfo().Config, cfg), "err", err)
	return s, nil
}

// errNotPermitted is the cause of a stream write that NATS refused for
// permissions (asyncError).
var errNotPermitted = errors.New("not permitted")

// streamWriteContext bounds a stream create or update, and ends it at once
// when NATS refuses it for permissions: it then sends no answer, only an
// asynchronous error (asyncError), and the request would wait its whole
// timeout.
func (b *Bus) streamWriteContext(ctx context.Context) (context.Context, context.CancelFunc) {
	refusedCtx, refuse := context.WithCancelCause(ctx)
	wctx, cancel := context.WithTimeout(refusedCtx, streamWriteTimeout)
	b.streamWrite.Store(&refuse)
	return wctx, func() {
		b.streamWrite.Store(nil)
		cancel()
		refuse(nil)
	}
}

// asyncError takes the NATS connection's asynchronous errors: a refused
// stream create or update ends the request waiting for it
// (streamWriteContext); every error is logged.
func (b *Bus) asyncError(err error) {
	if errors.Is(err, nats.ErrPermissionViolation) {
		streamWrite := false
		for _, op := range []string{"CREATE", "UPDATE"} {
			if !strings.Contains(err.Error(), `"$JS.API.STREAM.`+op+`.`+b.opts.Stream+`"`) {
				continue
			}
			streamWrite = true
			if refuse := b.streamWrite.Load(); refuse != nil {
				(*refuse)(fmt.Errorf("%w: %v", errNotPermitted, err))
			}
		}
		if !streamWrite {
			// Any other subject a node uses, refused, costs the fleet a
			// path (the early hide, the fast path, hellos) or the bus.
			b.log.Error("purge bus: the NATS server refused this node a subject; its NATS user needs the permissions docs/purge.md lists",
				"err", err)
			return
		}
	}
	b.log.Warn("purge bus: NATS error", "err", err)
}

// sameStream reports whether the stream's settings are those want asks for.
func sameStream(have, want jetstream.StreamConfig) bool {
	return streamDiff(have, want) == ""
}

// streamDiff names the settings of have that differ from want's, with
// both values, for a log line; "" when none do.
func streamDiff(have, want jetstream.StreamConfig) string {
	var d settingsdiff.Diff
	add := d.Add
	add(!slices.Equal(have.Subjects, want.Subjects), "subjects", have.Subjects, want.Subjects)
	add(have.Storage != want.Storage, "storage", have.Storage, want.Storage)
	add(have.Retention != want.Retention, "retention", have.Retention, want.Retention)
	add(have.MaxAge != want.MaxAge, "max_age", have.MaxAge, want.MaxAge)
	add(have.Replicas != want.Replicas, "replicas", have.Replicas, want.Replicas)
	add(have.Duplicates != want.Duplicates, "duplicate_window", have.Duplicates, want.Duplicates)
	return d.String()
}

// lastStored is the sequence of the last event the stream holds, whose
// state is st: st.LastSeq unless messages were deleted (a deleted last
// message leaves LastSeq where it was), then the last one still stored
// (0 when none is).
func (b *Bus) lastStored(ctx context.Context, stream jetstream.Stream, st jetstream.StreamState) (uint64, error) {
	if st.NumDeleted == 0 || st.Msgs == 0 {
		return st.LastSeq, nil
	}
	msg, err := stream.GetLastMsgForSubject(ctx, b.opts.Subject)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("%w: last stored event: %v", ErrUnavailable, err)
	}
	return msg.Sequence, nil
}

// gapAfter reports whether the stream lost events after applied, which the
// node then can never apply, and the next sequence the stream holds.
func gapAfter(applied uint64, st jetstream.StreamState) (next uint64, gap bool) {
	next = firstHeld(st)
	switch {
	case st.LastSeq < applied: // stream recreated or reset
		return next, true
	case next > applied+1: // retention or a purge of the stream removed unapplied events
		return next, true
	}
	return next, false
}

// firstHeld is the sequence of the first event the stream holds, or the
// one its next event will take when it holds none.
func firstHeld(st jetstream.StreamState) uint64 {
	if st.Msgs == 0 || st.FirstSeq == 0 {
		return st.LastSeq + 1
	}
	return st.FirstSeq
}

// handle applies one delivered event: a redelivery of an applied sequence is
// skipped, a jump in sequence is a gap (one over events the stream still
// holds, which another client took, ends the session instead), an event
// without a valid signature is rejected (not applied, its sequence
// recorded), a signed event that cannot be decoded is applied as the safe
// all+soft purge rather than skipped.
func (b *Bus) handle(ctx context.Context, msg jetstream.Msg) error {
	received := b.now()
	meta, err := msg.Metadata()
	if err != nil {
		return fmt.Errorf("event metadata: %w", err)
	}
	seq := meta.Sequence.Stream
	// The fast path (fast.go) applies under the same lock.
	b.applyMu.Lock()
	defer b.applyMu.Unlock()
	applied := b.applied.Load()
	// The first delivery of an applied event is the stream's copy of one
	// the fast path applied: not a duplicate.
	redelivered := seq <= b.streamSeq
	b.streamSeq = seq
	b.streamSeen = max(b.streamSeen, seq)
	if seq <= applied {
		if !redelivered && b.fastTookOther(seq, streamID(msg.Data())) {
			// fast.go: the fast path applied a replayed message here.
			b.log.Warn("purge stream holds another event than the fast path applied at its sequence; applying it too",
				"seq", seq, "applied", applied)
			return b.applyCopy(ctx, msg, applied, meta.Timestamp, received)
		}
		// Not news of the stream either: the consumer trails the fast
		// path, and its pending count was taken when it sent this copy
		// (health would take the stream for recreated below applied).
		if redelivered {
			b.metrics.duplicates.Inc()
		}
		return nil
	}
	b.health.saw(seq + meta.NumPending)
	if seq > applied+1 && b.streamHolds(ctx, applied+1) {
		// Not lost: another client took the events between (a pull
		// request on this node's consumer, which the server cannot tell
		// from the node's). The next session's consumer starts after the
		// applied sequence and delivers them. Before, every such skip
		// marked the whole cache stale, as often as the client pulled.
		return fmt.Errorf("%w: the stream delivered seq %d after %d but still holds %d: another client took it from this node's consumer; starting a new session",
			ErrUnavailable, seq, applied, applied+1)
	}
	if seq > applied+1 {
		b.log.Warn("purge stream skipped events; marking the whole cache stale", "applied", applied, "seq", seq)
		b.metrics.gaps.Inc()
		if err := b.apply(ctx, event{ID: "gap", Node: b.opts.Node, Request: staleAll}, seq-1); err != nil {
			return err
		}
	}
	return b.applyCopy(ctx, msg, seq, meta.Timestamp, received)
}

// streamHolds reports whether the stream still holds the event at seq
// (false when it cannot tell).
func (b *Bus) streamHolds(ctx context.Context, seq uint64) bool {
	stream := b.stream.Load()
	if stream == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	_, err := (*stream).GetMsg(ctx, seq)
	return err == nil
}

// streamID is the ID of the event in data, "" when it does not decode.
func streamID(data []byte) string {
	ev, err := decodeEvent(data)
	if err != nil {
		return ""
	}
	return ev.ID
}

// applyCopy applies the stream's copy of an event, recorded at seq and
// stored by the stream at stored: one without a valid signature, or a
// signed one published again (replay.go), is rejected; one that cannot be
// decoded is applied as the safe all+soft purge.
func (b *Bus) applyCopy(ctx context.Context, msg jetstream.Msg, seq uint64, stored, received time.Time) error {
	if reason := b.signer.verify(msg.Headers(), msg.Data()); reason != "" {
		b.keyMismatch(reason, "seq", seq)
		return b.reject(ctx, seq, reason)
	}
	if b.signer != nil {
		if id, why := b.replayOf(msg.Headers(), msg.Data(), stored); why != "" {
			b.log.Warn("purge event rejected as a replay", "seq", seq, "why", why)
			if err := b.reject(ctx, seq, rejectReplayed); err != nil {
				return err
			}
			// A copy of an event published here comes after the event
			// itself, whose result its publisher took first.
			b.notify(id, applyResult{rejected: why})
			return nil
		}
	}
	ev, err := decodeEvent(msg.Data())
	if err != nil {
		b.log.Error("purge event cannot be applied as sent; marking the whole cache stale instead", "seq", seq, "err", err)
		ev = event{ID: ev.ID, Node: b.opts.Node, Request: staleAll}
	}
	ev.received = received
	return b.apply(ctx, ev, seq)
}

// apply calls Invalidate until it succeeds (an event is never skipped) or
// ctx ends, then records the sequence and wakes the publisher waiting for
// this event.
func (b *Bus) apply(ctx context.Context, ev event, seq uint64) error {
	n, took, err := b.invalidate(ctx, ev.ID, ev.Request, seq)
	if err != nil {
		return err
	}
	b.observe(ev, seq, n, took)
	return nil
}

// reject skips an event without a valid signature, or a replayed one:
// nobody with the right to purge made it (or made it now), so not applying
// it loses nothing. Its sequence is still recorded (an empty Request, which
// matches nothing), so the stream order and gap detection go on as if it
// had been applied. The key and the event's content are not logged.
func (b *Bus) reject(ctx context.Context, seq uint64, reason string) error {
	b.metrics.rejected.WithLabelValues(reason).Inc()
	if _, _, err := b.invalidate(ctx, "rejected", Request{}, seq); err != nil {
		return err
	}
	b.metrics.appliedSeq.Set(float64(seq))
	return nil
}

// invalidate calls Invalidate until it succeeds or ctx ends, retrying with
// back-off, and records seq as applied, with the stream it counts in once
// a session has read it (StreamRecorder). The caller holds applyMu.
func (b *Bus) invalidate(ctx context.Context, id string, r Request, seq uint64) (int, time.Duration, error) {
	delay := newBackoff()
	for {
		start := time.Now()
		var n int
		var err error
		if rec, ok := b.opts.Invalidator.(StreamRecorder); ok && b.streamID != "" {
			n, err = rec.InvalidateInStream(ctx, r, seq, b.streamID)
		} else {
			n, err = b.opts.Invalidator.Invalidate(ctx, r, seq)
		}
		if err == nil {
			b.recordApplied(seq)
			return n, time.Since(start), nil
		}
		b.metrics.failures.Inc()
		if ctx.Err() != nil {
			return 0, 0, fmt.Errorf("applying purge %s (seq %d): %w", id, seq, ctx.Err())
		}
		b.log.Error("purge: invalidate failed, retrying", "id", id, "seq", seq, "err", err)
		if !sleep(ctx, delay.next()) {
			return 0, 0, fmt.Errorf("applying purge %s (seq %d): %w", id, seq, ctx.Err())
		}
	}
}

// recordApplied makes seq the applied sequence once its Invalidate
// succeeded. The caller holds applyMu.
func (b *Bus) recordApplied(seq uint64) {
	b.applied.Store(seq)
	b.health.progressed()
	b.setPending()
}

func (b *Bus) observe(ev event, seq uint64, n int, took time.Duration) {
	for _, k := range ev.Request.Kinds() {
		b.metrics.applied.WithLabelValues(k).Inc()
	}
	b.metrics.objects.Add(float64(n))
	b.metrics.applyDur.Observe(took.Seconds())
	b.metrics.appliedSeq.Set(float64(seq))
	var lag, delivered time.Duration
	if !ev.Time.IsZero() {
		lag = b.now().Sub(ev.Time)
		b.metrics.lag.Observe(lag.Seconds())
		if !ev.received.IsZero() {
			delivered = ev.received.Sub(ev.Time)
		}
	}
	// lag: from the publisher's Publish call to the end of this apply
	// (the publisher's clock: meaningful across nodes whose clocks agree);
	// delivered: its part until the consumer handed the event to this
	// node; took: the Invalidate's part.
	b.log.Debug("purge applied", "id", ev.ID, "origin", ev.Node, "seq", seq, "kinds", ev.Request.Kinds(),
		"soft", ev.Request.Soft, "objects", n, "took", took, "delivered", delivered, "lag", lag, "fast", ev.fast)
	b.appliedEarly(ev) // early.go: the apply did the lasting work
	b.notify(ev.ID, applyResult{count: n, took: took})
}

// notify tells the Publish waiting for event id, if any, its result; a
// later one for the same id is dropped.
func (b *Bus) notify(id string, ar applyResult) {
	b.mu.Lock()
	ch := b.waiters[id]
	b.mu.Unlock()
	if ch != nil {
		select {
		case ch <- ar:
		default:
		}
	}
}

func (b *Bus) checkReady(target uint64) {
	if b.applied.Load() >= target {
		b.readyOnce.Do(func() { close(b.ready) })
	}
}

// backoff doubles a delay from 50ms up to 5s.
type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{} }

func (b *backoff) reset() { b.d = 0 }

func (b *backoff) next() time.Duration {
	switch {
	case b.d == 0:
		b.d = 50 * time.Millisecond
	case b.d < 5*time.Second:
		b.d = min(2*b.d, 5*time.Second)
	}
	return b.d
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
