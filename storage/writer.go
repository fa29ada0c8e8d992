package storage

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// The disk writer: Set puts entries into the pending map and a key into the
// bounded queue; one goroutine batches queued operations into transactions.

type opKind uint8

const (
	opSet   opKind = iota // write the pending entry of key
	opFlush               // close done once everything queued before has landed
)

type op struct {
	kind opKind
	key  string
	done chan struct{}
}

const (
	maxBatchOps   = 256      // operations taken from the queue per batch
	maxBatchBytes = 64 << 20 // entry bytes per transaction, at most
)

// writer owns the disk's writes: the queue, the pending entries, and the
// goroutine that applies them in batches. Deletes and purges write the
// disk in their caller's goroutine, holding txMu (see locked).
type writer struct {
	disk *disk
	log  *slog.Logger
	// unapplied are re-applied after every commit that succeeds: the disk
	// is writable again.
	unapplied *unappliedSet

	queue chan op       // to the writer goroutine
	stop  chan struct{} // closed by close: drain and exit
	done  chan struct{} // closed by the writer goroutine on exit
	// touches holds the LRU touches of hits (see touch); touched wakes
	// the writer for them.
	touches *touches
	touched chan struct{}
	// full wakes a lingering writer (see lingerFor): a Set or Flush sends
	// on it, without blocking, once the queue holds a batch (fullAt
	// operations), the pending entries fill a transaction's bytes, or a
	// Flush waits. One token is enough: the writer takes the whole queue.
	full   chan struct{}
	fullAt int

	// txMu serializes the disk's write transactions, so that the writer's
	// batch (snapshot of pending entries → commit → release) and a Delete
	// or Purge never interleave: a deleted pending entry cannot be written
	// after the delete.
	txMu    sync.Mutex
	pending pendingWrites
	// encoded is the buffer of the last batch's encoded values, written
	// over by the next (see encode); guarded by txMu.
	encoded []byte

	skipped, writes, corrupt atomic.Uint64

	// batchHook, when set (by tests, before the first Set), runs at the
	// start of every writer batch, before txMu is taken.
	batchHook func()
	// linger is how long a batch with a Set waits for more (the constant
	// writeLinger; tests change it before the first Set).
	linger time.Duration
	// wroteFile, when set, is told of each entry whose body a committed
	// write put in a file, with the copy that names it (the memory tier
	// adopts it). It runs holding txMu, before the batch leaves the pending
	// map.
	wroteFile func(e, inFile *Entry)
}

// newWriter returns a writer of d; the caller starts its goroutine, run.
func newWriter(d *disk, u *unappliedSet, log *slog.Logger, queueLen int, queueBytes int64) *writer {
	return &writer{
		disk:      d,
		log:       log,
		unapplied: u,
		queue:     make(chan op, queueLen),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		touches:   newTouches(),
		touched:   make(chan struct{}, 1),
		full:      make(chan struct{}, 1),
		// Half the queue at most: the Sets that arrive while the
		// writer wakes need room, or they would be skipped.
		fullAt:  max(1, min(maxBatchOps-1, queueLen/2)),
		pending: newPendingWrites(queueBytes),
		linger:  writeLinger,
	}
}

// locked runs fn holding txMu: no writer batch is in flight, and every
// pending write is still queued.
func (w *writer) locked(fn func()) {
	w.txMu.Lock()
	defer w.txMu.Unlock()
	fn()
}

// set records e as pending and queues its disk write, or counts a skipped
// write when the queue is full, in length or in bytes, or when bbolt
// cannot store its key. The caller holds the Store open.
func (w *writer) set(e *Entry) {
	if e.Key == "" || len(e.Key) > MaxKeyLen || !w.pending.add(e, w.queue) {
		w.skipped.Add(1)
		return
	}
	if len(w.queue) >= w.fullAt || w.pending.size() >= w.batchBytes() {
		w.wake()
	}
}

// wake ends the writer's linger, if it lingers (see full).
func (w *writer) wake() {
	select {
	case w.full <- struct{}{}:
	default: // a token waits already
	}
}

// batchBytes bounds the entry bytes of one transaction: a quarter of the
// queue's byte bound, so that what a commit holds at once (the entries,
// their encodings, bbolt's dirty pages) stays near the queue's own bound.
// A transaction always takes at least one entry.
func (w *writer) batchBytes() int64 {
	return min(maxBatchBytes, w.pending.max/4)
}

// touch holds an LRU touch of key for the writer (see touches), best
// effort. The writer is woken by the first key held after a commit (to
// start touchDelay) and by the key that fills maxHeldTouches (to write
// them at once). The caller holds the Store open.
func (w *writer) touch(key string) {
	if n := w.touches.add(key); n == 1 || n >= maxHeldTouches {
		select {
		case w.touched <- struct{}{}:
		default: // a wake waits already
		}
	}
}

// flush queues a flush (blocking: a flush is never skipped) and returns
// the channel closed once everything queued before it has landed. The
// caller holds the Store open.
func (w *writer) flush() <-chan struct{} {
	done := make(chan struct{})
	w.queue <- op{kind: opFlush, done: done}
	w.wake() // its caller waits: no linger
	return done
}

// dropCorrupt deletes a damaged disk record, unless it was rewritten since.
func (w *writer) dropCorrupt(key string, raw []byte, cause error) {
	w.corrupt.Add(1)
	w.log.Warn("storage: dropping corrupt disk entry", "key", key, "err", cause)
	w.txMu.Lock()
	defer w.txMu.Unlock()
	if err := w.disk.dropIfEqual(key, raw); err != nil {
		w.disk.report("drop corrupt entry", err)
	}
}

// touchDelay is how long LRU touches may wait for a transaction of their
// own. Every disk hit holds one; committed as they came, a steady load of
// disk hits kept the writer running touch-only transactions (each with its
// fsync) back to back. Held back, they are written once per touchDelay, or
// at once with the next batch that writes anything else (so eviction and
// Flush always see them). Only recency is delayed, and recency is a hint.
const touchDelay = time.Second

// maxHeldTouches bounds the distinct keys whose touches are held back.
const maxHeldTouches = 4096

// close stops the writer once it has drained the queue. With ctx done
// meanwhile, the disk writes still queued are dropped and counted as
// skipped (see Store.Shutdown); a transaction already under way still
// commits.
func (w *writer) close(ctx context.Context) {
	close(w.stop)
	select {
	case <-w.done:
		return
	case <-ctx.Done():
	}
	w.skipped.Add(uint64(w.pending.abandon()))
	<-w.done
}

// run applies queued operations until close, then drains the queue.
func (w *writer) run() {
	defer close(w.done)
	var (
		timer  = time.NewTimer(touchDelay)
		due    <-chan time.Time // timer.C while touches are held, else nil
		linger = time.NewTimer(writeLinger)
		buf    = make([]op, 0, maxBatchOps)
	)
	timer.Stop()
	linger.Stop()
	for {
		if due == nil && w.touches.held.Load() > 0 {
			// Touches added while take ran, to stripes it had taken, found
			// other keys held and woke no one (touch wakes the writer for
			// the first key only): their delay starts here.
			timer.Reset(touchDelay)
			due = timer.C
		}
		select {
		case o := <-w.queue:
			ops := w.collect(o, buf)
			ops = w.lingerFor(ops, linger)
			timer.Stop()
			due = nil
			w.writeBatch(w.touches.take(), ops)
		case <-w.touched:
			switch n := w.touches.held.Load(); {
			case n >= maxHeldTouches:
				timer.Stop()
				due = nil
				w.writeBatch(w.touches.take(), nil)
			case n > 0 && due == nil:
				timer.Reset(touchDelay)
				due = timer.C
			}
		case <-due:
			due = nil
			w.writeBatch(w.touches.take(), nil)
		case <-w.stop:
			w.writeBatch(w.touches.take(), nil)
			for {
				select {
				case o := <-w.queue:
					w.writeBatch(nil, w.collect(o, buf))
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
//
// A transaction costs about 650 µs of CPU whatever it holds (bbolt's two
// fdatasyncs, the meta page, the branch pages), a 1 KiB Set about 30 µs
// more (BenchmarkSetDisk). At 5 ms, one connection's misses (one every
// 0.3 to 0.5 ms) made batches of 10 to 15: some 50 µs of every miss went
// to commits. At 25 ms they are batches of 50 or more, under 15 µs a
// miss; busier nodes fill maxBatchOps (or a transaction's bytes) sooner
// and do not wait that long. What a crash may lose grows by as much (a
// cache refetches it; no entry is ever written partly: see doc.go).
const writeLinger = 25 * time.Millisecond

// lingerFor lets a batch with a Set in it gather what arrives within
// writeLinger, stopping early once the queue holds a batch (fullAt, about
// maxBatchOps), once the entries waiting fill a transaction (batchBytes:
// waiting longer would only hold their memory), at a Flush (whose caller
// waits) and at Close. A batch of flushes does not wait: a flush is waited
// for. (Touches are not queued: see touches.)
//
// It sleeps through the linger and takes what was queued at its end: a
// writer that took each operation as it came was woken once per miss
// (a goroutine switch, and often a futex wake of an idle thread, on the
// cores that serve). Set and Flush wake it early through full.
func (w *writer) lingerFor(ops []op, t *time.Timer) []op {
	if w.linger <= 0 || !hasKind(ops, opSet) || hasKind(ops, opFlush) {
		return ops
	}
	select {
	case <-w.full: // sent before this batch began: its ops are in ops
	default:
	}
	if len(w.queue) < w.fullAt && w.pending.size() < w.batchBytes() {
		t.Reset(w.linger)
		select {
		case <-t.C:
		case <-w.full:
		case <-w.stop:
		}
		t.Stop()
	}
	return w.collectMore(ops)
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
// fresh slice per collect was an allocation per hit). It takes them
// however many bytes wait: writeBatch splits what it took into
// transactions of batchBytes. (Stopping once the waiting entries filled a
// transaction made a writer with a backlog commit one entry per
// transaction: the fuller the queue, the slower it drained, until Sets
// were skipped and their objects fetched again.)
func (w *writer) collect(first op, buf []op) []op {
	return w.collectMore(append(buf[:0], first))
}

// collectMore appends what is queued to ops, up to maxBatchOps in all.
func (w *writer) collectMore(ops []op) []op {
	for len(ops) < maxBatchOps {
		select {
		case o := <-w.queue:
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
func (w *writer) writeBatch(touches []string, ops []op) {
	if len(touches) == 0 && len(ops) == 0 {
		return
	}
	if w.batchHook != nil {
		w.batchHook()
	}
	w.txMu.Lock()
	defer w.txMu.Unlock()
	for len(touches) > 0 || len(ops) > 0 {
		b := batch{touches: touches}
		touches = nil
		var flushes []chan struct{}
		ops = w.pending.take(ops, &b, &flushes, w.batchBytes())
		if len(b.sets) > 0 || len(b.touches) > 0 {
			w.commit(&b)
		}
		w.pending.release(b.sets)
		for _, done := range flushes {
			close(done)
		}
	}
}

// commit encodes and writes b in one transaction. b.sets is left whole, so
// that every taken entry is released from pending afterwards.
func (w *writer) commit(b *batch) {
	valid := batch{touches: b.touches}
	var made []*fileRef
	for _, ps := range b.sets {
		var ok bool
		if ps.tags, ok = encodeTags(ps.e.Key, ps.e.Tags); !ok {
			// A tag purge could not find it on disk: memory only.
			w.skipped.Add(1)
			w.log.Warn("storage: entry has a tag that cannot be indexed; not written to disk", "key", ps.e.Key)
			continue
		}
		e, err := w.bodyFile(&ps)
		if err != nil {
			w.skipped.Add(1)
			w.disk.report("write body file", err)
			continue
		}
		if ps.made {
			made = append(made, ps.file)
		}
		ps.stored = e
		valid.sets = append(valid.sets, ps)
	}
	valid.sets = w.encode(valid.sets)
	err := w.disk.files.syncDirs(made)
	if err == nil {
		err = w.disk.apply(&valid)
	}
	if err != nil {
		if len(made) > 0 {
			ids := make([]uint64, len(made))
			for i, f := range made {
				ids[i] = f.id
			}
			w.disk.files.remove(ids) // no record names them
		}
		w.disk.report("write batch", fmt.Errorf("%d sets, %d touches: %w", len(valid.sets), len(valid.touches), err))
		return
	}
	w.writes.Add(uint64(len(valid.sets)))
	if w.wroteFile != nil {
		for _, ps := range valid.sets {
			if ps.made && ps.e.file == nil { // its body was in memory until now
				w.wroteFile(ps.e, ps.stored)
			}
		}
	}
	w.unapplied.retry(w.disk) // the disk is writable again
}

// encode encodes each of sets into its val and returns those that bbolt
// can hold. The values share one buffer, kept for the next batch when it
// is small (the encodings of a miss's 1 KiB entry were an allocation of
// 1.5 KB per Set): bbolt keeps a value it puts only until the transaction
// ends (it copies it into a page when it commits), and commit runs one
// transaction at a time (txMu), so the next batch may write over it.
func (w *writer) encode(sets []pendingSet) []pendingSet {
	size := 0
	for _, ps := range sets {
		size += encodedSize(ps.stored)
	}
	buf := w.encoded[:0]
	if cap(buf) < size {
		// A quarter more, so that batches a little larger than the last
		// one do not each make a new buffer.
		buf = make([]byte, 0, size+size/4)
	}
	valid := sets[:0]
	for _, ps := range sets {
		start := len(buf)
		buf = appendEncoded(buf, ps.stored)
		ps.val = buf[start:len(buf):len(buf)]
		if len(ps.val) > bolt.MaxValueSize {
			// One bad value must not fail the whole batch's transaction.
			w.disk.report("write", fmt.Errorf("entry %q: %d bytes encoded: %w", ps.e.Key, len(ps.val), bolterrors.ErrValueTooLarge))
			continue
		}
		valid = append(valid, ps)
	}
	w.encoded = nil
	if cap(buf) <= maxKeptEncoded {
		w.encoded = buf[:0]
	}
	return valid
}

// maxKeptEncoded bounds the buffer of encodings the writer keeps from one
// batch to the next (a full batch of 1 KiB misses, maxBatchOps of them,
// encodes to some 400 KB): a batch of larger values allocates its own.
const maxKeptEncoded = 1 << 20

// bodyFile decides where ps's body goes on disk and returns the entry to
// encode: ps.e itself (body in the value), or a copy that names the file
// holding it (ps.file; ps.made when written or linked for this write).
// The caller holds txMu, so no record that names a file is removed
// meanwhile.
func (w *writer) bodyFile(ps *pendingSet) (*Entry, error) {
	e, f := ps.e, w.disk.files
	switch {
	case e.file != nil && e.file.key == e.Key:
		// A refreshed entry that keeps the body file of the record it
		// replaces (a 304's new header fields), if that record still
		// names it.
		if _, err := os.Stat(f.path(e.file.id)); err != nil {
			return nil, fmt.Errorf("entry %q: its body file is gone: %w", e.Key, err)
		}
		ps.file = e.file
	case e.file != nil:
		ref, err := f.link(e.file, e.Key)
		if err != nil {
			return nil, fmt.Errorf("entry %q: %w", e.Key, err)
		}
		ps.file, ps.made = ref, true
	case f.wants(e):
		ref, err := f.write(e.Key, e.Body)
		if err != nil {
			return nil, fmt.Errorf("entry %q: %w", e.Key, err)
		}
		ps.file, ps.made = ref, true
	default:
		return e, nil
	}
	c := e.clone()
	c.Body, c.file = nil, ps.file
	return c, nil
}
