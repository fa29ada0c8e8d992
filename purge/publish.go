package purge

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// publishTimeout bounds the wait for JetStream's acknowledgement.
const publishTimeout = 5 * time.Second

// publishAttemptTimeout bounds one attempt to publish within
// publishTimeout (publishAcked).
const publishAttemptTimeout = time.Second

// Result reports one published purge.
type Result struct {
	// ID identifies the purge in every node's logs.
	ID string `json:"id"`
	// Seq is the purge's stream sequence: its last event's, when what
	// Expand added took further events (Publish).
	Seq uint64 `json:"seq"`
	// Count is the number of objects the local node removed or marked
	// stale (other nodes may differ).
	Count int `json:"count"`
	// Duration is the time from Publish to the local apply's end.
	Duration time.Duration `json:"-"`
	// ApplyDuration is the local Invalidate's share of Duration.
	ApplyDuration time.Duration `json:"-"`
	// Warning tells the caller what the purge may miss ("" when nothing):
	// the Expander's warning, and what it added that could not be
	// published (Expander).
	Warning string `json:"-"`
}

// Publish validates r (Validate, and the Invalidator's Check), signs it
// with the fleet's key (if any), publishes it, with what the Invalidator's
// Expander adds, with a JetStream acknowledgement (from then on every node
// will apply it, even if this call fails later), then waits up to
// ApplyTimeout until the local node applied it. Errors wrap ErrInvalid,
// ErrUnavailable (nothing published), ErrNotApplied (published; Result
// has ID and Seq), ErrClockSkew (stored, but rejected by every node, even
// once published again: clock.go), ErrIncomplete (r published and
// applied here, not all that Expand added; Result has r's ID and Seq) or
// ErrClosed.
func (b *Bus) Publish(ctx context.Context, r Request) (Result, error) {
	if err := r.Validate(); err != nil {
		return Result{}, err
	}
	if c, ok := b.opts.Invalidator.(Checker); ok {
		if err := c.Check(r); err != nil {
			return Result{}, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	if b.closed.Load() {
		return Result{}, ErrClosed
	}
	if b.nc == nil || !b.nc.IsConnected() {
		// The purge's caller sees this answer, not the log or /healthz:
		// a refused token says so, or "not connected" sends them to the
		// network.
		if b.authRefused.Load() {
			return Result{}, fmt.Errorf("%w: not connected to NATS: it refuses this node's token (Authorization Violation); %s", ErrUnavailable, natsTokenHint)
		}
		return Result{}, fmt.Errorf("%w: not connected to NATS", ErrUnavailable)
	}
	start := time.Now()
	more, warning := b.expand(r)
	res, err := b.publishExpanded(ctx, r, more, start)
	res.Warning = warning
	return res, err
}

// publishExpanded publishes r with more (what Expand added, each item
// valid and not r's) in one event when that fits, else r and then more in
// further events, each within MaxItems and the NATS max payload.
func (b *Bus) publishExpanded(ctx context.Context, r, more Request, start time.Time) (Result, error) {
	if len(more.URLs)+len(more.Prefixes) == 0 {
		return b.publishRetried(ctx, r, start, true)
	}
	wide := r
	wide.URLs, wide.Prefixes = slices.Concat(r.URLs, more.URLs), slices.Concat(r.Prefixes, more.Prefixes)
	if wide.Validate() == nil { // within MaxItems
		res, err := b.publishRetried(ctx, wide, start, true)
		if !errors.Is(err, errOverPayload) {
			return res, err
		}
	}
	// Too many items, or too many bytes, for one event: r as given, then
	// what Expand added, before the API answers. Before, they were dropped
	// with a log line while the purge answered 200: the shields kept their
	// copies, which the edges' next misses fetched again.
	events := slices.Concat(b.chunks(more.URLs, func(c []string) Request { return Request{URLs: c} }),
		b.chunks(more.Prefixes, func(c []string) Request { return Request{Prefixes: c} }))
	b.log.Warn("purge bus: the purge with what its routes map it to is over one event's limits; publishing that in further events",
		"items", len(r.URLs)+len(r.Prefixes)+len(r.Tags)+len(r.Hosts), "added", len(more.URLs)+len(more.Prefixes), "events", len(events))
	// An event published but not yet applied here (ErrNotApplied) will
	// be: the rest are published all the same, without waiting for their
	// apply, and the purge is answered as not yet applied, with the last
	// event's seq. Before, what the routes map it to was never published
	// while the API said the purge would still be applied on every node.
	res, err := b.publishRetried(ctx, r, start, true)
	notApplied := err
	if err != nil && !errors.Is(err, ErrNotApplied) {
		return res, err
	}
	for i, ev := range events {
		ev.Soft, ev.StandIn = r.Soft, r.StandIn
		m, err := b.publishRetried(ctx, ev, start, notApplied == nil)
		switch {
		case errors.Is(err, ErrNotApplied):
			notApplied = err
		case err != nil && notApplied != nil:
			return res, fmt.Errorf("%w: purge %s (seq %d) was published (not yet applied here), but event %d of the %d that carry what the routes map it to: %v",
				ErrIncomplete, res.ID, res.Seq, i+1, len(events), err)
		case err != nil:
			return res, fmt.Errorf("%w: purge %s (seq %d) was published and applied here, but event %d of the %d that carry what the routes map it to: %v",
				ErrIncomplete, res.ID, res.Seq, i+1, len(events), err)
		}
		// Seq is the last event's: a node that applied it applied them all.
		res.Seq, res.Count = m.Seq, res.Count+m.Count
		res.ApplyDuration += m.ApplyDuration
		res.Duration = m.Duration
	}
	if notApplied != nil {
		return res, fmt.Errorf("purge %s (seq %d, with what the routes map it to): %w", res.ID, res.Seq, ErrNotApplied)
	}
	return res, nil
}

// publishRetried publishes r as one event, once more if the clock moved
// meanwhile.
func (b *Bus) publishRetried(ctx context.Context, r Request, start time.Time, wait bool) (Result, error) {
	res, err := b.publish(ctx, r, start, wait)
	if errors.Is(err, ErrClockSkew) {
		// clock.go: the clock moved since it was measured. Measure again
		// and publish the purge anew, as a new event, once.
		if merr := b.measureNow(ctx); merr != nil {
			b.log.Warn("purge bus: could not measure the clock again", "err", merr)
		}
		res, err = b.publish(ctx, r, start, wait)
	}
	return res, err
}

// chunks splits items into requests (made by mk) that each fit in one
// event: at most MaxItems items, and half the NATS max payload of encoded
// items (the rest is room for the event's other fields).
func (b *Bus) chunks(items []string, mk func([]string) Request) []Request {
	if len(items) == 0 {
		return nil
	}
	budget := int(b.nc.MaxPayload() / 2)
	var out []Request
	start, size := 0, 0
	for i, u := range items {
		q, _ := json.Marshal(u) // never shorter than encodeEvent's spelling
		n := len(q) + 1
		if i > start && (i-start >= MaxItems || size+n > budget) {
			out = append(out, mk(items[start:i]))
			start, size = i, 0
		}
		size += n
	}
	return append(out, mk(items[start:]))
}

// errOverPayload is wrapped (with ErrInvalid) by publish when the event is
// larger than the NATS max payload; nothing was published.
var errOverPayload = errors.New("event over the NATS max payload")

// expand is what the Invalidator's Expander adds to r (none without one),
// each URL and prefix once and none of r's, and the warnings for the
// caller: the Expander's, and the items left out for being no valid
// request's (Validate), which are logged and counted, each alone.
func (b *Bus) expand(r Request) (more Request, warning string) {
	e, ok := b.opts.Invalidator.(Expander)
	if !ok {
		return Request{}, ""
	}
	wide, warning := e.Expand(r)
	var dropped []string
	keep := func(own, added []string, field string) []string {
		seen := make(map[string]bool, len(own)+len(added))
		for _, s := range own {
			seen[s] = true
		}
		var out []string
		for _, s := range added {
			if seen[s] {
				continue
			}
			seen[s] = true
			one := Request{URLs: []string{s}}
			if err := one.Validate(); err != nil {
				b.log.Warn("purge bus: an item the routes map the purge to is no valid purge item; left out", "field", field, "err", err)
				dropped = append(dropped, s)
				continue
			}
			out = append(out, s)
		}
		return out
	}
	more.URLs = keep(r.URLs, wide.URLs, "urls")
	more.Prefixes = keep(r.Prefixes, wide.Prefixes, "prefixes")
	if len(dropped) > 0 {
		b.metrics.expansionDropped.Add(float64(len(dropped)))
		first := dropped[0]
		if len(first) > 100 {
			first = first[:100] + "..."
		}
		warning = joinWarnings(warning, fmt.Sprintf("%d URLs or prefixes this node's routes map the purge to are no valid purge item and were not published (the first: %q); the copies stored under them may remain", len(dropped), first))
	}
	return more, warning
}

// joinWarnings joins the non-empty warnings into one line.
func joinWarnings(ws ...string) string {
	return strings.Join(slices.DeleteFunc(ws, func(w string) bool { return w == "" }), "; and ")
}

// publish publishes r as one new event and, if wait, waits for its local
// apply.
func (b *Bus) publish(ctx context.Context, r Request, start time.Time, wait bool) (Result, error) {
	ev := event{ID: newID(), Node: b.opts.Node, Time: b.now().UTC(), Request: r}
	data, err := encodeEvent(ev)
	if err != nil {
		return Result{}, err
	}
	if int64(len(data)) > b.nc.MaxPayload() {
		return Result{}, fmt.Errorf("%w: %w: event of %d bytes exceeds the NATS max payload %d", ErrInvalid, errOverPayload, len(data), b.nc.MaxPayload())
	}
	done := b.wait(ev.ID)
	defer b.unwait(ev.ID)

	msg := &nats.Msg{Subject: b.opts.Subject, Data: data}
	b.signer.sign(msg)
	b.early(ev, data) // early.go: every node hides it before the acknowledgement
	ack, err := b.publishAcked(ctx, msg, ev.ID)
	if err != nil {
		if !errors.Is(err, errUnacknowledged) {
			b.unhide(ev.ID, false) // not stored: no apply will come
		}
		return Result{}, err
	}
	b.metrics.published.Inc()
	res := Result{ID: ev.ID, Seq: ack.Sequence}
	b.log.Info("purge published", "id", ev.ID, "seq", ack.Sequence, "kinds", r.Kinds(), "soft", r.Soft,
		"acked", time.Since(start))
	if b.signer != nil { // without a key nothing is checked, and no fast path
		switch why, known := b.verifyStored(ctx, ack.Sequence); {
		case why != "":
			return res, b.skewed(ev, ack.Sequence, why)
		case known:
			b.announce(ack.Sequence, data) // fast.go
		}
		// Unknown: the fast path stays out of it; the stream's copy
		// decides on every node, this one included (below).
	}
	if !wait {
		return res, fmt.Errorf("purge %s (seq %d): %w (not waited for)", ev.ID, ack.Sequence, ErrNotApplied)
	}

	timer := time.NewTimer(b.opts.ApplyTimeout)
	defer timer.Stop()
	select {
	case ar := <-done:
		if ar.rejected != "" {
			return res, b.skewed(ev, ack.Sequence, ar.rejected)
		}
		res.Count, res.ApplyDuration, res.Duration = ar.count, ar.took, time.Since(start)
		return res, nil
	case <-timer.C:
		return res, fmt.Errorf("purge %s (seq %d): %w within %v", ev.ID, ack.Sequence, ErrNotApplied, b.opts.ApplyTimeout)
	case <-ctx.Done():
		return res, fmt.Errorf("purge %s (seq %d): %w: %v", ev.ID, ack.Sequence, ErrNotApplied, ctx.Err())
	}
}

// verifyStored reads back the stream's copy of the event this node
// published at seq and runs on it the check every node runs on it
// (replayOf): why is "" when every node will apply it, else why every node
// rejects it. known is false when the copy could not be read.
func (b *Bus) verifyStored(ctx context.Context, seq uint64) (why string, known bool) {
	stream := b.stream.Load()
	if stream == nil {
		return "", false
	}
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	msg, err := (*stream).GetMsg(ctx, seq)
	if err != nil {
		b.log.Warn("purge bus: could not read back a published event; the stream path alone applies it", "seq", seq, "err", err)
		return "", false
	}
	_, why = b.replayOf(msg.Header, msg.Data, msg.Time)
	return why, true
}

// skewed reports an event of this node that every node rejects as a
// replay: its signed time is too far from the stream's stored one.
func (b *Bus) skewed(ev event, seq uint64, why string) error {
	b.unhide(ev.ID, false) // no apply will come
	b.log.Error("purge published but rejected by every node: this node's clock is off the NATS server's",
		"id", ev.ID, "seq", seq, "why", why)
	return fmt.Errorf("purge %s (seq %d): %w: %s", ev.ID, seq, ErrClockSkew, why)
}

// A publish that no stream takes is answered at once with "no responders"
// (no stream has the subject, or its leader is being elected): it was
// stored nowhere. The bus sends it again noStreamRetries times,
// noStreamWait apart, as nats.go would by itself; it does so here, not in
// nats.go, whose waits would count in the attempt's publishAttemptTimeout:
// with them, where a round trip took 300ms (a node far from its cluster, or
// the loaded test machine), every attempt ran out of time and the publish
// was taken for unanswered (TestUnstoredPublishIsUnpublishedOverASlowLink).
const (
	noStreamRetries = 2
	noStreamWait    = 250 * time.Millisecond
)

// publishAcked publishes msg until JetStream acknowledges it, for at most
// publishTimeout. An attempt that gets no answer within
// publishAttemptTimeout is sent again with the same message ID: its
// acknowledgement may have been lost with a server that stored the event
// and then died, and JetStream answers the copy with the first one's
// sequence (Nats-Msg-Id deduplication over the stream's Duplicates window,
// 2 minutes), so the event is stored once. Once an attempt went unanswered
// the event may have been stored, whatever the later ones get: the error
// then says so (errUnacknowledged); otherwise it was stored nowhere.
func (b *Bus) publishAcked(ctx context.Context, msg *nats.Msg, id string) (*jetstream.PubAck, error) {
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	unanswered, noStream := false, 0
	fail := func(err error) (*jetstream.PubAck, error) {
		if unanswered {
			return nil, fmt.Errorf("%w: publishing purge %s: %v: %w", ErrUnavailable, id, err, errUnacknowledged)
		}
		return nil, fmt.Errorf("%w: publishing purge %s: %v", ErrUnavailable, id, err)
	}
	for {
		actx, acancel := context.WithTimeout(ctx, publishAttemptTimeout)
		ack, err := b.js.PublishMsg(actx, msg, jetstream.WithMsgID(id), jetstream.WithExpectStream(b.opts.Stream),
			jetstream.WithRetryAttempts(0))
		acancel()
		switch {
		case err == nil:
			return ack, nil
		case errors.Is(err, jetstream.ErrNoStreamResponse):
			if noStream++; noStream > noStreamRetries || !sleep(ctx, noStreamWait) {
				return fail(err)
			}
			continue
		case !errors.Is(err, context.DeadlineExceeded):
			return fail(err)
		}
		unanswered = true
		if ctx.Err() != nil {
			return fail(fmt.Errorf("no answer within %v", publishTimeout))
		}
		b.log.Warn("purge bus: no acknowledgement yet, publishing again with the same id", "id", id)
	}
}

// PurgeURL purges one absolute URL (all its variants) and returns the number
// of local objects affected; it serves the PURGE method.
func (b *Bus) PurgeURL(ctx context.Context, url string, soft bool) (int, error) {
	res, err := b.Publish(ctx, Request{URLs: []string{url}, Soft: soft})
	return res.Count, err
}

func (b *Bus) wait(id string) chan applyResult {
	ch := make(chan applyResult, 1)
	b.mu.Lock()
	b.waiters[id] = ch
	b.mu.Unlock()
	return ch
}

func (b *Bus) unwait(id string) {
	b.mu.Lock()
	delete(b.waiters, id)
	b.mu.Unlock()
}

// encodeEvent marshals without HTML escaping, so the event stays close to
// the request's size.
func encodeEvent(ev event) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		return nil, fmt.Errorf("encoding purge event: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// newID returns a random 128-bit purge ID in hex; it doubles as the
// JetStream message ID, so a retried publish is stored once.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}
