package storage

import (
	"fmt"
	"time"
)

// Purge is one invalidation expressed in cache keys (the caller converts
// purge URLs, hosts and tags to keys, prefixes and tags).
type Purge struct {
	// Keys are exact primary keys: the entry stored under each and every
	// key derived from it, stored under key+"\x00"... (key "k" purges "k"
	// and "k\x00...", not "k2"). The edge builds every derived key (Vary
	// variant, compressed encoding, auth partition, route split) that way:
	// the grammar is edge/policy's Key, which this package, a leaf, does
	// not import.
	Keys []string
	// Prefixes select every key with one of these byte prefixes. A host
	// purge is the prefixes "http://host/", "http://host:", "https://host/"
	// and "https://host:". The empty prefix selects everything.
	Prefixes []string
	// Tags select every entry whose Tags hold one of them (surrogate keys,
	// cache tags). The empty tag selects nothing.
	Tags []string
	// All selects everything.
	All bool
	// Soft marks the selected entries stale (Get returns them with
	// Entry.Stale set, and Entry.StaleAt the time of the purge: the next
	// request revalidates, and stale-while-revalidate / stale-if-error may
	// still serve them, counting from that time) instead of deleting them.
	Soft bool
	// NoStale, with Soft, marks entries stale without a StaleAt: they are
	// validated before any use and never served stale. It is for a purge
	// that stands in for others that may have been hard (what a node
	// applies when it missed purges).
	NoStale bool
	// Seq, when non-zero, is recorded as the last applied purge sequence
	// (AppliedSeq) in the bbolt transaction that completes the purge's disk
	// effect. It is recorded as given, even if lower than the one before,
	// so the caller can reset it.
	Seq uint64
}

// purgeHistory is how many recent invalidations SetFetched can test an
// entry against; a fetch that began before older ones is stored stale.
const purgeHistory = 4096

// Purge applies p to both tiers and to writes still pending, and returns the
// number of objects it affected: distinct keys (a primary entry and each of
// its variants count one each) that it removed or, when soft, marked stale
// (keys already stale count again, so a repeated soft purge reports the same
// number; a repeated hard purge reports 0). For All it is the entries on
// disk plus those only in memory or pending.
//
// It is synchronous: once it returns, neither tier returns a matching entry
// (soft: returns it only with Stale set), and no Set queued before it can
// land afterwards and bring one back. Applying a purge twice is harmless.
// A Set running concurrently may store a new entry; see SetFetched for
// fetches that began before the purge.
//
// On a disk error the memory tier is purged all the same, Seq is not
// recorded, and the error (wrapping the cause; ErrClosed after Close) is
// returned with the count so far: the caller should retry the purge.
func (s *Store) Purge(p Purge) (int, error) {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed.Load() {
		return 0, ErrClosed
	}
	m := newMatcher(p)
	if m.empty() {
		s.diskMu.Lock()
		_, err := s.disk.purge(m, p.Soft, p.Seq, nil) // records Seq
		s.diskMu.Unlock()
		s.completed(p.Seq, err)
		return 0, s.purgeErr(err)
	}
	s.record(m)
	s.diskMu.Lock()
	pending := s.purgePending(m, p.Soft)
	var others []string
	if m.all {
		others = append(pending, s.memKeys(m)...)
	}
	res, err := s.disk.purge(m, p.Soft, p.Seq, others)
	s.afterDiskPurge(err, func() *matcher { return m }, p.Soft)
	s.diskMu.Unlock()
	inMemory := s.purgeMemoryEntries(m, p.Soft)
	s.completed(p.Seq, err)
	n := res.n
	if !m.all {
		n = countDistinct(pending, res.keys, inMemory)
	}
	return n, s.purgeErr(err)
}

func (s *Store) purgeErr(err error) error {
	if err == nil {
		return nil
	}
	s.diskError("purge", err)
	return fmt.Errorf("purge: %w", err)
}

func countDistinct(lists ...[]string) int {
	set := make(map[string]struct{})
	for _, keys := range lists {
		for _, k := range keys {
			set[k] = struct{}{}
		}
	}
	return len(set)
}

// AppliedSeq returns the Seq of the last Purge that completed, 0 if none:
// recorded on disk in the purge's transaction (so it survives a restart)
// and applied to the memory tier, so that once a caller sees a sequence no
// Get returns an object that purge removed.
func (s *Store) AppliedSeq() (uint64, error) {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed.Load() {
		return 0, ErrClosed
	}
	return s.applied.Load(), nil
}

// completed makes seq the applied sequence once its purge has reached every
// tier. The disk records seq in the purge's own transaction, before the
// memory tier is purged; reporting it from there let a caller that waited
// for a sequence still be served the purged object from memory.
func (s *Store) completed(seq uint64, err error) {
	if seq != 0 && err == nil {
		s.applied.Store(seq) // as given, like the disk: see Purge.Seq
	}
}

// MemoryItemLimit is the largest entry the memory tier keeps (a quarter of
// its budget); 0 when the tier is disabled. A larger entry is held only by
// the disk write queue and by whoever is using it.
func (s *Store) MemoryItemLimit() int64 {
	if s.mem == nil {
		return 0
	}
	return s.mem.maxItem
}

// Generation returns a counter that every Purge, Delete and DeletePrefix
// increases as it begins. Read it when a fetch begins and pass it to
// SetFetched when the fetch completes. It starts at 0 when the Store opens.
func (s *Store) Generation() uint64 { return s.gen.Load() }

// SetFetched is Set for an entry whose fetch began when Generation returned
// since. If an invalidation that matches e (by key, variant family, prefix,
// tag or all; hard or soft) began after that, e is stored as a copy with
// Stale set: an object whose fetch began before a purge and finished after
// it is never stored as fresh. If more than the last purgeHistory (4096)
// invalidations began since, e is stored stale without testing.
func (s *Store) SetFetched(e *Entry, since uint64) {
	if e == nil {
		return
	}
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed.Load() {
		return
	}
	// Held across the test and the Set: a purge that records itself later
	// finds e in pending or memory and applies to it.
	s.purgeMu.RLock()
	defer s.purgeMu.RUnlock()
	if purged, at := s.purgedSince(e, since); purged {
		e = e.markedStale(at)
	}
	s.set(e)
}

// SetFetchedAt is SetFetched for a response that an upstream cache may have
// held for a while: produced is when its origin made it (the time received
// minus its Age). It is also stored stale when a matching invalidation was
// recorded after produced, even before the fetch began — the copy an edge
// fetches from a shield that has not applied a purge yet predates the purge
// the edge has applied, and must not be kept as fresh.
func (s *Store) SetFetchedAt(e *Entry, since uint64, produced time.Time) {
	if e == nil {
		return
	}
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed.Load() {
		return
	}
	s.purgeMu.RLock()
	defer s.purgeMu.RUnlock()
	purged, at := s.purgedSince(e, since)
	if after, atAfter := s.purgedAfter(e, produced); after {
		at = laterStale(purged, at, atAfter)
		purged = true
	}
	if purged {
		e = e.markedStale(at)
	}
	s.set(e)
}

// purgedAfter reports whether an invalidation recorded after produced
// matches e, looking back through the ring from the newest, and the
// StaleAt to give e (see matcher.staleAt). The caller holds purgeMu.
func (s *Store) purgedAfter(e *Entry, produced time.Time) (bool, time.Time) {
	cur := s.gen.Load()
	purged, at := false, time.Time{}
	for g := cur; g > 0 && cur-g < purgeHistory; g-- {
		m := s.history[g%purgeHistory]
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

// laterStale is the StaleAt of an entry stale since at (if have) and
// marked again since next: the later soft purge, since each says anew that
// the content is outdated as of its time; zero (never to be served stale)
// when either mark is.
func laterStale(have bool, at, next time.Time) time.Time {
	switch {
	case !have:
		return next
	case at.IsZero() || next.IsZero():
		return time.Time{}
	case next.After(at):
		return next
	}
	return at
}

// record makes m the newest invalidation: the generation moves, and
// SetFetched tests entries against it from now on.
func (s *Store) record(m *matcher) {
	m.at = s.now()
	s.purgeMu.Lock()
	defer s.purgeMu.Unlock()
	g := s.gen.Load() + 1
	s.history[g%purgeHistory] = m
	s.gen.Store(g)
}

// purgedSince reports whether an invalidation recorded after generation
// since matches e, and the StaleAt to give e (see matcher.staleAt). The caller
// holds purgeMu.
func (s *Store) purgedSince(e *Entry, since uint64) (bool, time.Time) {
	cur := s.gen.Load()
	if since >= cur {
		return false, time.Time{}
	}
	if cur-since > purgeHistory {
		return true, time.Time{} // the ring no longer holds them all: be conservative
	}
	purged, at := false, time.Time{}
	for g := since + 1; g <= cur; g++ {
		if m := s.history[g%purgeHistory]; m.match(e) {
			at = laterStale(purged, at, m.staleAt())
			purged = true
		}
	}
	return purged, at
}

// markedStale returns e marked stale since at (zero: it must be validated
// before any use) on top of any mark it has (laterStale): a copy, or e
// itself when that changes nothing.
func (e *Entry) markedStale(at time.Time) *Entry {
	t := laterStale(e.Stale, e.StaleAt, at)
	if e.Stale && t.Equal(e.StaleAt) {
		return e
	}
	c := e.clone()
	c.Stale, c.StaleAt = true, t
	return c
}

// clone returns a copy of e without its derived value (see Entry.derived).
func (e *Entry) clone() *Entry {
	return &Entry{Key: e.Key, Status: e.Status, Header: e.Header, Body: e.Body,
		RequestTime: e.RequestTime, ResponseTime: e.ResponseTime, Vary: e.Vary, Tags: e.Tags,
		Stale: e.Stale, StaleAt: e.StaleAt}
}

// purgePending drops the pending writes m matches, or with soft replaces
// them by stale copies (their queued disk write then stores the copy), and
// returns their keys. The caller holds diskMu, so the writer holds no
// snapshot of them and every pending write is still queued.
func (s *Store) purgePending(m *matcher, soft bool) []string {
	s.pendMu.Lock()
	defer s.pendMu.Unlock()
	var keys []string
	for k, p := range s.pending {
		if !m.match(p.e) {
			continue
		}
		keys = append(keys, k)
		if soft && p.queued {
			p.e = p.e.markedStale(m.staleAt())
			continue
		}
		s.deletePending(k)
	}
	return keys
}

// memKeys returns the keys of the memory-resident entries m matches.
func (s *Store) memKeys(m *matcher) []string {
	if s.mem == nil {
		return nil
	}
	var keys []string
	for _, e := range s.mem.matching(m) {
		keys = append(keys, e.Key)
	}
	return keys
}

// purgeMemoryEntries applies m to the memory tier after pending writes and
// disk (see purgeMemory for why then): hard deletes, soft replaces each
// matching entry by a stale copy unless a Set replaced it meanwhile. It
// returns the keys it matched.
func (s *Store) purgeMemoryEntries(m *matcher, soft bool) []string {
	return s.purgeMemory(func() []string {
		if !soft {
			return s.mem.deleteMatching(m)
		}
		found := s.mem.matching(m)
		keys := make([]string, len(found))
		for i, e := range found {
			keys[i] = e.Key
			if e.markedStale(m.staleAt()) != e {
				s.replaceStale(e, m.staleAt())
			}
		}
		return keys
	})
}

// replaceStale replaces e in memory by a copy marked stale since at if e
// is still the resident value of its key. The stripe lock orders it with
// Sets of the key.
func (s *Store) replaceStale(e *Entry, at time.Time) {
	st := s.stripe(e.Key)
	st.mu.Lock()
	defer st.mu.Unlock()
	if cur, ok := s.mem.get(e.Key); ok && cur == e {
		s.mem.set(e.markedStale(at))
	}
}
