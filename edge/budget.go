package edge

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"edged/edge/compress"
	"edged/storage"
)

var _ storage.Admitter = (*hold)(nil)

// compressorCost is what one streaming compressor's state is counted as in
// the body budget: compress/flate keeps hash tables and a window of about
// 800 KiB per gzip writer, brotli a ring buffer and hashers of a few MiB.
// Uncounted, they raised TestMemoryBounded's peak by some 40 MiB (131 MiB
// against 91 MiB with compression off, for a 64 MiB budget).
func compressorCost(coding compress.Encoding) int64 {
	if coding == compress.Gzip {
		return 1 << 20
	}
	return 4 << 20
}

// defaultBodyMemory is Options.BodyMemory's default.
const defaultBodyMemory = 64 << 20

// bodyBudget bounds the bytes of response bodies held in memory outside
// the store: fills reading a body, and disk hits being sent (the store
// decodes a disk hit's whole body). Without it, 60 clients fetching
// distinct 30 MiB objects held 1.8 GiB at once, whatever cache.memory said.
// What does not fit is passed through: streamed from the upstream through
// a small buffer, and not stored.
type bodyBudget struct {
	limit int64 // < 0: unlimited
	used  atomic.Int64
	// lingering is the part of used that bodies handed to
	// releaseWhenUnreachable hold: still being sent, or garbage that only
	// a collection gives back. freed is signalled as such a body's share
	// is given back.
	lingering atomic.Int64
	freed     chan struct{}
	// lingered counts the bodies ever handed to releaseWhenUnreachable.
	lingered atomic.Uint64
	// gc is held while a collection runs for the budget (reclaim); it
	// guards lastGC and lingeredAtGC, the time of the last and lingered
	// when it began. collections counts the collections run.
	gc           sync.Mutex
	lastGC       time.Time
	lingeredAtGC uint64
	collections  atomic.Uint64
}

// init sets the budget to limit bytes (< 0: unlimited), before any use.
func (b *bodyBudget) init(limit int64) {
	b.limit, b.freed = limit, make(chan struct{}, 1)
}

// take reserves n more bytes for a holder that has own bytes already,
// and reports whether it could. A holder alone in the budget is always
// granted, so that an object larger than the budget (but within
// max_object) can still be stored when the node is quiet: the bound is
// then that one object.
func (b *bodyBudget) take(n, own int64) bool {
	if b.limit < 0 || n <= 0 {
		return true
	}
	for {
		used := b.used.Load()
		if used > own && used+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

func (b *bodyBudget) give(n int64) {
	if b.limit >= 0 && n > 0 {
		b.used.Add(-n)
	}
}

// hold is the share of a bodyBudget one buffer holds; nil holds nothing
// and grows without limit. It is used by one goroutine at a time.
type hold struct {
	b       *bodyBudget
	n       int64
	refused bool // a grow was refused
}

// grow makes the hold size bytes, reporting false (and keeping what it
// held) when the budget cannot give the difference, even after a
// collection has given back the bodies that were only waiting for one
// (bodyBudget.reclaim).
func (h *hold) grow(size int64) bool { return h.growTo(size, true) }

// Admit takes size more bytes (storage.Admitter: a disk hit about to be
// decoded). It runs inside a read transaction of the store, so it never
// waits for a collection.
func (h *hold) Admit(size int64) bool { return h.growTo(h.n+size, false) }

func (h *hold) growTo(size int64, reclaim bool) bool {
	if h == nil || size <= h.n {
		return true
	}
	n := size - h.n
	if !h.b.take(n, h.n) && (!reclaim || !h.b.reclaim(n, h.n) || !h.b.take(n, h.n)) {
		h.refused = true
		return false
	}
	h.n = size
	return true
}

// minReclaimInterval is the least time between two collections reclaim
// runs when no body began to linger in between, and minReclaimGap the
// least in any case: they bound what a stream of fills the budget refuses
// costs in CPU while the bodies it waits for are still being sent, not
// garbage, or while many large unstored fills linger one after another
// (the runtime then collects often on its own anyway).
const (
	minReclaimInterval = 250 * time.Millisecond
	minReclaimGap      = 50 * time.Millisecond
)

// reclaimWait bounds the wait for the cleanups a collection queued, which
// run on a goroutine of their own after it.
const reclaimWait = 50 * time.Millisecond

// reclaim runs a garbage collection when the bodies waiting for one to be
// given back (releaseWhenUnreachable) would make room for n more bytes of
// a holder that has own, and reports whether one ran (or another caller's
// ended while this one waited), so that the caller tries again. Without
// it those bytes came back only when the runtime happened to collect: on
// a node quiet enough not to (up to two minutes), one large fill made
// every other fill pass through unstored and every slice fetch fail with
// 503, though all the bytes counted were garbage.
func (b *bodyBudget) reclaim(n, own int64) bool {
	lingering := b.lingering.Load()
	if lingering <= 0 {
		return false
	}
	if used := b.used.Load() - lingering; used > own && used+n > b.limit {
		return false // even all of them would not make room
	}
	seen := b.collections.Load()
	b.gc.Lock()
	defer b.gc.Unlock()
	if b.collections.Load() != seen {
		return true // one ran while this caller waited for it
	}
	lingered, since := b.lingered.Load(), time.Since(b.lastGC)
	if since < minReclaimGap || lingered == b.lingeredAtGC && since < minReclaimInterval {
		// Too soon after the last collection, or no body lingers that it
		// did not see (only one whose client has finished since may be
		// garbage now).
		return false
	}
	select {
	case <-b.freed: // a signal from before this collection
	default:
	}
	runtime.GC()
	b.lastGC, b.lingeredAtGC = time.Now(), lingered
	b.collections.Add(1)
	if b.lingering.Load() == lingering {
		wait := time.NewTimer(reclaimWait)
		defer wait.Stop()
		select {
		case <-b.freed:
		case <-wait.C:
		}
	}
	return true
}

// release gives everything held back; the hold may grow again.
func (h *hold) release() {
	if h != nil {
		h.b.give(h.n)
		h.n = 0
	}
}

// releaseWhenUnreachable gives back what h holds once body is garbage,
// instead of now. A body no cache tier holds (not stored, or too large for
// the memory tier) lives on in the clients being sent it, slow ones for as
// long as server.write_timeout lets them: until the collector finds it
// unreachable it still counts against the budget, so fills behind it are
// passed through rather than each pinning one more whole body.
func (h *hold) releaseWhenUnreachable(body []byte) {
	if h == nil || h.n == 0 || cap(body) == 0 {
		h.release()
		return
	}
	b, n := h.b, h.n
	h.n = 0
	b.lingering.Add(n)
	b.lingered.Add(1)
	runtime.AddCleanup(unsafe.SliceData(body), func(n int64) {
		b.lingering.Add(-n)
		b.give(n)
		select {
		case b.freed <- struct{}{}:
		default:
		}
	}, n)
}
