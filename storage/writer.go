package storage

import (
	"context"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// The disk writer: Set puts entries into the pending map and a key into the
// bounded queue; one goroutine batches queued operations into transactions.
// The pending map makes a Set readable before its write lands, and holds
// only the newest entry of a key, so repeated Sets of a key coalesce into one
// disk write.

type opKind uint8

const (
	opSet   opKind = iota // write the pending entry of key
	opTouch               // make key the most recently used disk entry
	opFlush               // close done once everything queued before has landed
)

type op struct {
	kind opKind
	key  string
	done chan struct{}
}

// pendingWrite is the newest Set entry of a key not yet on disk.
type pendingWrite struct {
	e      *Entry
	size   int64 // e.Size(), counted in Store.pendingBytes
	queued bool  // an opSet for the key is in the queue, not yet taken by the writer
}

const (
	maxBatchOps   = 256      // operations taken from the queue per batch
	maxBatchBytes = 64 << 20 // entry bytes per transaction, at most
)

// queueSet records e as pending and queues its disk write, or counts a
// skipped write when the queue is full, in length or in bytes. The caller
// holds closeMu for reading.
func (s *Store) queueSet(e *Entry) {
	if e.Key == "" || len(e.Key) > MaxKeyLen {
		s.skipped.Add(1) // bbolt cannot store the key
		return
	}
	size := e.Size()
	s.pendMu.Lock()
	defer s.pendMu.Unlock()
	p := s.pending[e.Key]
	if p != nil && p.queued && s.fitsPending(size-p.size) {
		// The queued opSet will write the newest entry.
		s.pendingBytes += size - p.size
		p.e, p.size = e, size
		return
	}
	if p == nil || !p.queued {
		if s.fitsPending(size) {
			select {
			case s.queue <- op{kind: opSet, key: e.Key}:
				s.putPending(e.Key, &pendingWrite{e: e, size: size, queued: true})
				return
			default:
			}
		}
	}
	// Skipped. An older entry of the key may be pending or in the writer's
	// hands; it must not shadow e, so it stops being readable from pending.
	s.deletePending(e.Key)
	s.skipped.Add(1)
}

// fitsPending reports whether size more bytes of entries may wait for the
// disk: the queue's bytes stay within maxPending, except that an entry is
// always taken when nothing waits. Every buffer of bodies is bounded in
// bytes, not only in entries (1024 entries of 64 MiB each were 64 GiB).
// The caller holds pendMu.
func (s *Store) fitsPending(size int64) bool {
	return s.pendingBytes == 0 || s.pendingBytes+size <= s.maxPending
}

// putPending and deletePending change pending and its byte total; the
// caller holds pendMu.
func (s *Store) putPending(key string, p *pendingWrite) {
	s.deletePending(key)
	s.pending[key] = p
	s.pendingBytes += p.size
}

func (s *Store) deletePending(key string) {
	if old := s.pending[key]; old != nil {
		s.pendingBytes -= old.size
		delete(s.pending, key)
	}
}

// batchBytes bounds the entry bytes of one transaction: a quarter of the
// queue's byte bound, so that what a commit holds at once (the entries,
// their encodings, bbolt's dirty pages) stays near the queue's own bound.
// A transaction always takes at least one entry.
func (s *Store) batchBytes() int64 {
	return min(maxBatchBytes, s.maxPending/4)
}

// enqueue queues a best-effort operation (an LRU touch): dropped if full.
// The caller holds closeMu for reading.
func (s *Store) enqueue(o op) {
	if len(s.queue) >= cap(s.queue)/2 {
		// Touches are a hint; the other half is kept for Sets. A flood of
		// disk hits while the writer was held up (a purge's transaction)
		// filled the queue with touches, and the Sets that followed were
		// skipped: their entries were then nowhere but in memory.
		return
	}
	select {
	case s.queue <- o:
	default:
	}
}

func (s *Store) pendingEntry(key string) *Entry {
	s.pendMu.Lock()
	defer s.pendMu.Unlock()
	if p := s.pending[key]; p != nil {
		return p.e
	}
	return nil
}

// dropPending removes the pending entries whose key matches and returns
// their keys. The caller holds diskMu, so the writer holds no snapshot of
// them that it could still write.
func (s *Store) dropPending(match func(string) bool) []string {
	s.pendMu.Lock()
	defer s.pendMu.Unlock()
	var keys []string
	for k := range s.pending {
		if match(k) {
			keys = append(keys, k)
			s.deletePending(k)
		}
	}
	return keys
}

// touchDelay is how long LRU touches may wait for a transaction of their
// own. Every disk hit queues one; committed as they came, a steady load of
// disk hits kept the writer running touch-only transactions (each with its
// fsync) back to back. Held back, they are written once per touchDelay, or
// at once with the next batch that writes anything else (so eviction and
// Flush always see them). Only recency is delayed, and recency is a hint.
const touchDelay = time.Second

// maxHeldTouches bounds the distinct keys whose touches are held back.
const maxHeldTouches = 4096

// heldTouches are LRU touches waiting for a transaction, in first-touch
// order, each key once.
type heldTouches struct {
	keys []string
	seen map[string]struct{}
}

// add holds the touches of ops if ops are all touches, and reports whether
// they were.
func (ht *heldTouches) add(ops []op) bool {
	for _, o := range ops {
		if o.kind != opTouch {
			return false
		}
	}
	if ht.seen == nil {
		ht.seen = make(map[string]struct{})
	}
	for _, o := range ops {
		if _, ok := ht.seen[o.key]; !ok {
			ht.seen[o.key] = struct{}{}
			ht.keys = append(ht.keys, o.key)
		}
	}
	return true
}

// take returns the held keys and empties ht.
func (ht *heldTouches) take() []string {
	keys := ht.keys
	ht.keys, ht.seen = nil, nil
	return keys
}

// Shutdown is Close with the drain of the write queue bounded by ctx: the
// disk writes still queued when ctx ends are dropped and counted as
// skipped (a cache refetches what it lost), so that stopping a node takes
// the time its operator allows (server.shutdown_timeout), not whatever a
// full queue needs. A transaction already under way still commits.
func (s *Store) Shutdown(ctx context.Context) error {
	closed := make(chan struct{})
	defer close(closed)
	go func() {
		select {
		case <-ctx.Done():
			s.abandonQueued()
		case <-closed:
		}
	}()
	return s.Close()
}

// abandonQueued drops the pending writes the writer has not taken yet: their
// queued operations then find nothing to write.
func (s *Store) abandonQueued() {
	s.pendMu.Lock()
	defer s.pendMu.Unlock()
	for k, p := range s.pending {
		if p.queued {
			s.deletePending(k)
			s.skipped.Add(1)
		}
	}
}

// runWriter applies queued operations until Close, then drains the queue.
func (s *Store) runWriter() {
	defer close(s.writerDone)
	var (
		held   heldTouches
		timer  = time.NewTimer(touchDelay)
		due    <-chan time.Time // timer.C while touches are held, else nil
		linger = time.NewTimer(writeLinger)
		buf    = make([]op, 0, maxBatchOps)
	)
	timer.Stop()
	linger.Stop()
	for {
		select {
		case o := <-s.queue:
			ops := s.collect(o, buf)
			ops = s.linger(ops, linger)
			if held.add(ops) {
				if len(held.keys) < maxHeldTouches {
					if due == nil {
						timer.Reset(touchDelay)
						due = timer.C
					}
					continue
				}
				ops = nil // held: written below
			}
			timer.Stop()
			due = nil
			s.writeBatch(held.take(), ops)
		case <-due:
			due = nil
			s.writeBatch(held.take(), nil)
		case <-s.stop:
			s.writeBatch(held.take(), nil)
			for {
				select {
				case o := <-s.queue:
					s.writeBatch(nil, s.collect(o, buf))
				default:
					return
				}
			}
		}
	}
}

// writeLinger is how long a batch holding a Set but fewer than
// maxBatchOps operations waits for more. Misses arriving one at a time
// used to be one transaction each, with its fsyncs: a third of the node's
// CPU with one miss in flight, taken from the cores that serve. A Set is
// readable from the pending map meanwhile, so only the disk copy waits.
const writeLinger = 5 * time.Millisecond

// linger lets a batch with a Set in it gather what arrives within
// writeLinger, stopping early at maxBatchOps, at a Flush (whose caller
// waits) and at Close. Batches of touches and flushes do not wait: touches
// have their own delay, and a flush is waited for.
func (s *Store) linger(ops []op, t *time.Timer) []op {
	if s.writeLinger <= 0 || !hasKind(ops, opSet) || hasKind(ops, opFlush) {
		return ops
	}
	t.Reset(s.writeLinger)
	defer t.Stop()
	for len(ops) < maxBatchOps {
		select {
		case o := <-s.queue:
			ops = append(ops, o)
			if o.kind == opFlush {
				return ops
			}
		case <-t.C:
			return ops
		case <-s.stop:
			return ops
		}
	}
	return ops
}

func hasKind(ops []op, k opKind) bool {
	for _, o := range ops {
		if o.kind == k {
			return true
		}
	}
	return false
}

// collect takes first and whatever else is queued, up to maxBatchOps, into
// buf (the writer's, reused: with a disk hit's touch arriving alone, a
// fresh slice per collect was an allocation per hit).
func (s *Store) collect(first op, buf []op) []op {
	ops := append(buf[:0], first)
	for len(ops) < maxBatchOps {
		select {
		case o := <-s.queue:
			ops = append(ops, o)
		default:
			return ops
		}
	}
	return ops
}

// writeBatch commits touches (held back from earlier batches) and ops in as
// few transactions as maxBatchBytes allows. A Flush is completed once the
// transaction holding the ops queued before it has committed.
func (s *Store) writeBatch(touches []string, ops []op) {
	if len(touches) == 0 && len(ops) == 0 {
		return
	}
	if s.batchHook != nil {
		s.batchHook()
	}
	s.diskMu.Lock()
	defer s.diskMu.Unlock()
	for len(touches) > 0 || len(ops) > 0 {
		b := batch{touches: touches}
		touches = nil
		var flushes []chan struct{}
		ops = s.snapshot(ops, &b, &flushes)
		if len(b.sets) > 0 || len(b.touches) > 0 {
			s.commit(&b)
		}
		s.release(b.sets)
		for _, done := range flushes {
			close(done)
		}
	}
}

// commit encodes and writes b in one transaction. b.sets is left whole, so
// that every taken entry is released from pending afterwards.
func (s *Store) commit(b *batch) {
	valid := batch{touches: b.touches}
	for _, w := range b.sets {
		w.val = Encode(w.e)
		if len(w.val) > bolt.MaxValueSize {
			// One bad value must not fail the whole batch's transaction.
			s.diskError("write", fmt.Errorf("entry %q: %d bytes encoded: %w", w.e.Key, len(w.val), bolterrors.ErrValueTooLarge))
			continue
		}
		var ok bool
		if w.tags, ok = encodeTags(w.e.Key, w.e.Tags); !ok {
			// A tag purge could not find it on disk: memory only.
			s.skipped.Add(1)
			s.log.Warn("storage: entry has a tag that cannot be indexed; not written to disk", "key", w.e.Key)
			continue
		}
		valid.sets = append(valid.sets, w)
	}
	if err := s.disk.apply(&valid); err != nil {
		s.diskError("write batch", fmt.Errorf("%d sets, %d touches: %w", len(valid.sets), len(valid.touches), err))
		return
	}
	s.writes.Add(uint64(len(valid.sets)))
	s.retryUnapplied() // the disk is writable again
}

// snapshot moves the leading ops into b (and flushes) until maxBatchBytes of
// entries are taken, and returns the rest. It takes the newest pending entry
// of each queued key; Sets deleted meanwhile are gone from pending and so
// are not written.
func (s *Store) snapshot(ops []op, b *batch, flushes *[]chan struct{}) []op {
	s.pendMu.Lock()
	defer s.pendMu.Unlock()
	var size int64
	limit := s.batchBytes()
	for i, o := range ops {
		if size >= limit {
			return ops[i:]
		}
		switch o.kind {
		case opSet:
			p := s.pending[o.key]
			if p == nil || !p.queued {
				continue // deleted, or already taken by an earlier op
			}
			p.queued = false
			b.sets = append(b.sets, pendingSet{e: p.e})
			size += p.size
		case opTouch:
			if !slices.Contains(b.touches, o.key) {
				b.touches = append(b.touches, o.key)
			}
		case opFlush:
			*flushes = append(*flushes, o.done)
		}
	}
	return nil
}

// release removes written entries from the pending map, unless a newer Set
// replaced them meanwhile. A failed write is released too: pending must stay
// bounded, and the entry may still be in memory.
func (s *Store) release(sets []pendingSet) {
	s.pendMu.Lock()
	defer s.pendMu.Unlock()
	for _, w := range sets {
		if p := s.pending[w.e.Key]; p != nil && p.e == w.e && !p.queued {
			s.deletePending(w.e.Key)
		}
	}
}
