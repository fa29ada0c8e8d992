package storage

import (
	"sync"
	"sync/atomic"
	"time"
)

// purgeHistory is how many recent invalidations SetFetchedAt can test an
// entry against; a fetch that began before older ones is stored stale.
const purgeHistory = 4096

// purgeLog remembers the recent invalidations (Purge, Delete,
// DeletePrefix), so that an entry whose fetch overlapped one is stored
// stale (see Store.SetFetchedAt).
type purgeLog struct {
	now func() time.Time // timestamps invalidations
	// mu guards gen and history: held for writing while an invalidation is
	// recorded, for reading across a fetched entry's test and its Set
	// (stored), so a purge either sees the Set or is seen by it.
	mu sync.RWMutex
	// gen counts invalidations as they begin; history[g%purgeHistory] is
	// the one that made it g. Written under mu; read without it by
	// Generation.
	gen     atomic.Uint64
	history [purgeHistory]*matcher
}

// generation returns the number of invalidations recorded so far.
func (l *purgeLog) generation() uint64 { return l.gen.Load() }

// record makes m the newest invalidation: the generation moves, and
// stored tests entries against it from now on.
func (l *purgeLog) record(m *matcher) {
	m.at = l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	g := l.gen.Load() + 1
	l.history[g%purgeHistory] = m
	l.gen.Store(g)
}

// stored calls set with e, or with a stale copy of e if an invalidation
// that matches e was recorded after generation since or, when produced is
// not zero, after produced; mu is held for reading across both, so that
// an invalidation recorded later finds e wherever set put it.
func (l *purgeLog) stored(e *Entry, since uint64, produced time.Time, set func(*Entry)) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	purged, at := l.since(e, since)
	if !produced.IsZero() {
		if after, atAfter := l.after(e, produced); after {
			at = laterStale(purged, at, atAfter)
			purged = true
		}
	}
	if purged {
		e = e.markedStale(at)
	}
	set(e)
}

// since reports whether an invalidation recorded after generation since
// matches e, and the StaleAt to give e (see matcher.staleAt). The caller
// holds mu.
func (l *purgeLog) since(e *Entry, since uint64) (bool, time.Time) {
	cur := l.gen.Load()
	if since >= cur {
		return false, time.Time{}
	}
	if cur-since > purgeHistory {
		return true, time.Time{} // the ring no longer holds them all: be conservative
	}
	purged, at := false, time.Time{}
	for g := since + 1; g <= cur; g++ {
		if m := l.history[g%purgeHistory]; m.match(e) {
			at = laterStale(purged, at, m.staleAt())
			purged = true
		}
	}
	return purged, at
}

// coversSince reports whether an invalidation recorded after generation
// since may cover an entry of the object primary (see Store.PurgedSince).
func (l *purgeLog) coversSince(primary string, since uint64) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	cur := l.gen.Load()
	if since >= cur {
		return false
	}
	if cur-since > purgeHistory {
		return true // the ring no longer holds them all: be conservative
	}
	for g := since + 1; g <= cur; g++ {
		if m := l.history[g%purgeHistory]; m == nil || m.mayCover(primary) {
			return true
		}
	}
	return false
}

// after reports whether an invalidation recorded after produced matches e,
// looking back through the ring from the newest, and the StaleAt to give e
// (see matcher.staleAt). The caller holds mu.
func (l *purgeLog) after(e *Entry, produced time.Time) (bool, time.Time) {
	cur := l.gen.Load()
	purged, at := false, time.Time{}
	for g := cur; g > 0 && cur-g < purgeHistory; g-- {
		m := l.history[g%purgeHistory]
		if m == nil || !m.at.After(produced) {
			break
		}
		if m.match(e) {
			at = laterStale(purged, at, m.staleAt())
			purged = true
		}
	}
	return purged, at
}

// appliedSeq is the last purge sequence whose purge is complete: recorded
// on disk and applied to the memory tier (see Store.AppliedSeq).
type appliedSeq struct {
	seq    atomic.Uint64
	stream atomic.Pointer[string] // Purge.Stream recorded with seq; nil: none
}

func (a *appliedSeq) load() uint64 { return a.seq.Load() }

func (a *appliedSeq) loadStream() string {
	if p := a.stream.Load(); p != nil {
		return *p
	}
	return ""
}

// appliedMark is what a purge records as applied: Purge.Seq, and
// Purge.Stream when it names one (then the sequence even when zero).
type appliedMark struct {
	seq    uint64
	stream string
}

func (p Purge) mark() appliedMark { return appliedMark{seq: p.Seq, stream: p.Stream} }

// recorded reports whether the mark records anything.
func (m appliedMark) recorded() bool { return m.seq != 0 || m.stream != "" }

// completed makes seq the applied sequence once its purge has reached every
// tier. The disk records seq in the purge's own transaction, before the
// memory tier is purged; reporting it from there let a caller that waited
// for a sequence still be served the purged object from memory.
func (a *appliedSeq) completed(m appliedMark, err error) {
	if !m.recorded() || err != nil {
		return
	}
	if m.stream != "" {
		// The stream first: a reader that sees the new sequence sees
		// the stream it counts in.
		a.stream.Store(&m.stream)
	}
	a.seq.Store(m.seq) // as given, like the disk: see Purge.Seq
}
