package storage

import (
	"fmt"
	"slices"
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
	// Stream, when non-empty, names the purge stream Seq counts in: both
	// are recorded (AppliedStream), Seq even when zero, so that a caller
	// moved to another stream, whose sequences start again, can record
	// where it stands in the new one.
	Stream string
}

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
// A Set running concurrently may store a new entry; see SetFetchedAt for
// fetches that began before the purge.
//
// On a disk error the memory tier is purged all the same, Seq is not
// recorded, and the error (wrapping the cause; ErrClosed after Close) is
// returned with the count so far: the caller should retry the purge.
func (s *Store) Purge(p Purge) (int, error) {
	if !s.life.enter() {
		return 0, ErrClosed
	}
	defer s.life.leave()
	m, mark := newMatcher(p), p.mark()
	if m.empty() {
		var err error
		s.w.locked(func() { _, err = s.disk.purge(m, p.Soft, mark, nil) }) // records Seq
		s.applied.completed(mark, err)
		return 0, purgeErr(s.disk, err)
	}
	s.purges.record(m)
	// The purge takes effect at once, before its disk step: that step
	// waits for the writer's transaction in progress (a batch of fills and
	// its fsync) and then pays an fsync of its own, which on a busy disk
	// was most of a purge's propagation time (issue 18). From here until
	// the step is done, applying hides the disk hits m covers (soft:
	// returns them stale), so neither tier serves a purged object; the
	// memory tier and the pending writes are purged now, and again once
	// the disk step is done (purgeSettled), which catches a disk hit read before
	// that step and promoted meanwhile.
	s.applying.add(m, p.Soft)
	defer s.applying.drop(m)
	early := s.w.pending.purge(m, p.Soft)
	var inMemory []string
	if s.mem != nil {
		inMemory = s.mem.purge(m, p.Soft)
	}
	n, err := s.purgeSettled(m, p.Soft, mark, early, inMemory)
	s.applied.completed(mark, err)
	return n, purgeErr(s.disk, err)
}

// purgeSettled is the core that Purge and Evict share: it applies m (soft,
// recording seq) to the pending writes and the disk under the writer's
// txMu, where no batch is in flight and every pending write is still
// queued, so none lands afterwards; a failed disk step is settled
// (unappliedSet: the disk hits m covers stay hidden, and m is applied
// again once the disk writes). Then the memory tier, after the disk step,
// which also removes a disk hit promoted meanwhile (memory.purged). early
// and inMemory are the keys an earlier step purged from the pending
// writes and the memory tier (Purge's), counted once; the result counts
// as Purge says.
func (s *Store) purgeSettled(m *matcher, soft bool, seq appliedMark, early, inMemory []string) (int, error) {
	var (
		pending []string
		res     purgeResult
		err     error
	)
	s.w.locked(func() {
		pending = append(s.w.pending.purge(m, soft), early...)
		var others []string
		if m.all {
			others = slices.Concat(pending, inMemory)
			if s.mem != nil {
				others = append(others, s.mem.keys(m)...)
			}
		}
		res, err = s.disk.purge(m, soft, seq, others)
		s.unapplied.settle(s.disk, err, func() *matcher { return m }, soft)
	})
	if s.mem != nil {
		inMemory = append(inMemory, s.mem.purge(m, soft)...)
	}
	if m.all {
		return res.n, err
	}
	return countDistinct(pending, res.keys, inMemory), err
}

func purgeErr(d *disk, err error) error {
	if err == nil {
		return nil
	}
	d.report("purge", err)
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
	if !s.life.enter() {
		return 0, ErrClosed
	}
	defer s.life.leave()
	return s.applied.load(), nil
}

// AppliedStream returns the Stream of the last Purge that named one ("" if
// none did): the stream AppliedSeq counts in, recorded with it.
func (s *Store) AppliedStream() (string, error) {
	if !s.life.enter() {
		return "", ErrClosed
	}
	defer s.life.leave()
	return s.applied.loadStream(), nil
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
// SetFetchedAt when the fetch completes. It starts at 0 when the Store
// opens.
func (s *Store) Generation() uint64 { return s.purges.generation() }

// PurgedSince reports whether an invalidation that began after generation
// since (Purge, Delete, DeletePrefix, Hide) may cover an entry of the
// object key belongs to: the object whose keys start with key's primary
// key (key up to its first NUL, policy.Key's grammar), its variants,
// encodings and slices included. Conservative: true for a tag purge (which
// tags an object carries is not known from its key), for one of
// everything, and when more than the last purgeHistory (4096)
// invalidations began since. A purge of another URL is false.
func (s *Store) PurgedSince(key string, since uint64) bool {
	return s.purges.coversSince(primaryOf(key), since)
}

// SetFetchedAt is Set for an entry whose fetch began when Generation
// returned since. If an invalidation that matches e (by key, variant
// family, prefix, tag or all; hard or soft) began after that, e is stored
// as a copy with Stale set: an object whose fetch began before a purge and
// finished after it is never stored as fresh. If more than the last
// purgeHistory (4096) invalidations began since, e is stored stale without
// testing.
//
// produced, unless zero, is when the origin made the response, for one
// that an upstream cache may have held for a while (the time received
// minus its Age): e is also stored stale when a matching invalidation was
// recorded after produced, even before the fetch began — the copy an edge
// fetches from a shield that has not applied a purge yet predates the
// purge the edge has applied, and must not be kept as fresh. Zero: the
// response's age is not known, and only since counts.
func (s *Store) SetFetchedAt(e *Entry, since uint64, produced time.Time) {
	if e == nil || !s.life.enter() {
		return
	}
	defer s.life.leave()
	s.purges.stored(e, since, produced, s.set)
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
		Stale: e.Stale, StaleAt: e.StaleAt, MustRevalidate: e.MustRevalidate, file: e.file}
}

// Hide makes p take effect at once, without its disk step and without
// recording p.Seq (ignored): for a purge announced ahead of its ordered
// apply (the purge bus's early path). From now until the returned unhide
// is called, no Get returns an object p covers as it was before: the
// memory tier is purged (hard: removed; soft: marked stale), and hits on
// the pending writes and on disk that p matches are hidden (hard: a miss;
// soft: returned stale) and not promoted. Nothing durable is removed, so a
// purge that never comes costs only misses (or revalidations) until
// unhide; the real Purge of the same request, applied before unhide, does
// the lasting work. An entry whose fetch began before Hide is stored stale
// by SetFetchedAt, as for a Purge. Hide after Close does nothing.
func (s *Store) Hide(p Purge) (unhide func()) {
	m := newMatcher(p)
	if m.empty() || !s.life.enter() {
		return func() {}
	}
	defer s.life.leave()
	s.purges.record(m) // sets m.at (a soft purge's StaleAt) and the generation
	s.hidden.add(m, p.Soft)
	if s.mem != nil {
		s.mem.purge(m, p.Soft)
	}
	return func() { s.hidden.drop(m) }
}
