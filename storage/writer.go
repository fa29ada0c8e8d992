package storage

import (
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
	queued bool // an opSet for the key is in the queue, not yet taken by the writer
}

const (
	maxBatchOps   = 256      // operations taken from the queue per batch
	maxBatchBytes = 64 << 20 // entry bytes per transaction
)

// queueSet records e as pending and queues its disk write, or counts a
// skipped write when the queue is full. The caller holds closeMu for reading.
func (s *Store) queueSet(e *Entry) {
	if e.Key == "" || len(e.Key) > MaxKeyLen {
		s.skipped.Add(1) // bbolt cannot store the key
		return
	}
	s.pendMu.Lock()
	defer s.pendMu.Unlock()
	p := s.pending[e.Key]
	if p != nil && p.queued {
		p.e = e // the queued opSet will write the newest entry
		return
	}
	select {
	case s.queue <- op{kind: opSet, key: e.Key}:
		s.pending[e.Key] = &pendingWrite{e: e, queued: true}
	default:
		// Skipped. An older entry of the key may be in the writer's hands;
		// it must not shadow e, so it stops being readable from pending.
		delete(s.pending, e.Key)
		s.skipped.Add(1)
	}
}

// enqueue queues a best-effort operation (an LRU touch): dropped if full.
// The caller holds closeMu for reading.
func (s *Store) enqueue(o op) {
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
			delete(s.pending, k)
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
	for i, o := range ops {
		if size >= maxBatchBytes {
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
			size += p.e.Size()
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
			delete(s.pending, w.e.Key)
		}
	}
}
