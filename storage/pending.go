package storage

import (
	"sync"
)

// pendingWrites holds the entries Set but not yet on disk: it makes a Set
// readable before its write lands, and holds only the newest entry of a
// key, so repeated Sets of a key coalesce into one disk write.
type pendingWrites struct {
	mu sync.Mutex // guards m and bytes
	m  map[string]*pendingWrite
	// bytes is the total size of m's entries; max bounds it
	// (Options.WriteQueueBytes).
	bytes, max int64
}

// pendingWrite is the newest Set entry of a key not yet on disk.
type pendingWrite struct {
	e      *Entry
	size   int64 // e.Size(), counted in pendingWrites.bytes
	queued bool  // an opSet for the key is in the queue, not yet taken by the writer
	// taken is the entry the writer took (queued false): e itself, or
	// the entry e is a stale copy of, made by a soft purge meanwhile.
	taken *Entry
}

func newPendingWrites(max int64) pendingWrites {
	return pendingWrites{m: make(map[string]*pendingWrite), max: max}
}

// add records e as pending, queuing an opSet for its key on queue unless
// one is queued already; it reports false (a skipped write) when the queue
// is full, in length or in bytes.
func (p *pendingWrites) add(e *Entry, queue chan<- op) bool {
	size := e.Size()
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.m[e.Key]
	if w != nil && w.queued && p.fits(size-w.size) {
		// The queued opSet will write the newest entry.
		p.bytes += size - w.size
		w.e, w.size = e, size
		return true
	}
	if w == nil || !w.queued {
		if p.fits(size) {
			select {
			case queue <- op{kind: opSet, key: e.Key}:
				p.put(e.Key, &pendingWrite{e: e, size: size, queued: true})
				return true
			default:
			}
		}
	}
	// Skipped. An older entry of the key may be pending or in the writer's
	// hands; it must not shadow e, so it stops being readable from pending.
	p.remove(e.Key)
	return false
}

// size is the total size of the entries waiting for the disk.
func (p *pendingWrites) size() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bytes
}

// fits reports whether size more bytes of entries may wait for the disk:
// the queue's bytes stay within max, except that an entry is always taken
// when nothing waits. Every buffer of bodies is bounded in bytes, not only
// in entries (1024 entries of 64 MiB each were 64 GiB). The caller holds
// mu.
func (p *pendingWrites) fits(size int64) bool {
	return p.bytes == 0 || p.bytes+size <= p.max
}

// put and remove change m and its byte total; the caller holds mu.
func (p *pendingWrites) put(key string, w *pendingWrite) {
	p.remove(key)
	p.m[key] = w
	p.bytes += w.size
}

func (p *pendingWrites) remove(key string) {
	if old := p.m[key]; old != nil {
		p.bytes -= old.size
		delete(p.m, key)
	}
}

// get returns the pending entry of key, or nil.
func (p *pendingWrites) get(key string) *Entry {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w := p.m[key]; w != nil {
		return w.e
	}
	return nil
}

// len returns the number of pending entries.
func (p *pendingWrites) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m)
}

// drop removes the pending entries whose key matches and returns their
// keys. The caller holds the writer's txMu, so the writer holds no snapshot
// of them that it could still write.
func (p *pendingWrites) drop(match func(string) bool) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var keys []string
	for k := range p.m {
		if match(k) {
			keys = append(keys, k)
			p.remove(k)
		}
	}
	return keys
}

// purge drops the pending writes m matches, or with soft replaces them by
// stale copies, and returns their keys. Under the writer's txMu the writer
// holds no snapshot of them and every pending write is still queued (their
// queued disk write then stores the copy). Without it (the early step of
// Store.Purge) a write the writer has taken may still land on disk: a hard
// purge drops it, and Store.applying hides it from the moment it lands
// until the purge's disk step removes it; a soft purge keeps its stale copy
// readable until it lands (release), or Get would find it neither pending
// nor on disk yet, and miss an entry the purge only marks.
func (p *pendingWrites) purge(m *matcher, soft bool) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var keys []string
	for k, w := range p.m {
		if !m.match(w.e) {
			continue
		}
		keys = append(keys, k)
		if soft {
			w.e = w.e.markedStale(m.staleAt())
			continue
		}
		p.remove(k)
	}
	return keys
}

// abandon drops the pending writes the writer has not taken yet (their
// queued operations then find nothing to write) and returns how many.
func (p *pendingWrites) abandon() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for k, w := range p.m {
		if w.queued {
			p.remove(k)
			n++
		}
	}
	return n
}

// take moves the leading ops into b (and flushes) until limit bytes of
// entries are taken, and returns the rest. It takes the newest pending
// entry of each queued key; Sets deleted meanwhile are gone from pending
// and so are not written.
func (p *pendingWrites) take(ops []op, b *batch, flushes *[]chan struct{}, limit int64) []op {
	p.mu.Lock()
	defer p.mu.Unlock()
	var size int64
	for i, o := range ops {
		if size >= limit {
			return ops[i:]
		}
		switch o.kind {
		case opSet:
			w := p.m[o.key]
			if w == nil || !w.queued {
				continue // deleted, or already taken by an earlier op
			}
			w.queued, w.taken = false, w.e
			b.sets = append(b.sets, pendingSet{e: w.e})
			size += w.size
		case opFlush:
			*flushes = append(*flushes, o.done)
		}
	}
	return nil
}

// release removes written entries from pending, unless a newer Set
// replaced them meanwhile. A failed write is released too: pending must
// stay bounded, and the entry may still be in memory.
func (p *pendingWrites) release(sets []pendingSet) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range sets {
		if w := p.m[s.e.Key]; w != nil && w.taken == s.e && !w.queued {
			p.remove(s.e.Key)
		}
	}
}
