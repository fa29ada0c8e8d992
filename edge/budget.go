package edge

import (
	"runtime"
	"sync/atomic"
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
// held) when the budget cannot give the difference.
func (h *hold) grow(size int64) bool {
	if h == nil || size <= h.n {
		return true
	}
	if !h.b.take(size-h.n, h.n) {
		h.refused = true
		return false
	}
	h.n = size
	return true
}

// Admit takes size more bytes (storage.Admitter: a disk hit about to be
// decoded).
func (h *hold) Admit(size int64) bool { return h.grow(h.n + size) }

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
	runtime.AddCleanup(unsafe.SliceData(body), func(n int64) { b.give(n) }, n)
}
