package storage

import (
	"errors"
	"slices"
	"sync"
)

// Purges whose disk effect failed (a full or unwritable disk): the memory
// tier and pending writes were purged, but the disk may still hold matching
// entries. Until the purge is applied on disk, a disk hit that one of them
// matches is hidden (hard: a miss) or marked stale (soft), and never
// promoted, so a purged object is not served again while the disk fails.
// The store re-applies them itself after the next write transaction that
// succeeds and after every successful purge; the caller's own retry (the
// purge bus retries a failed Invalidate) works as well. Re-applying later
// may remove or mark an entry written after the purge: a needless refetch,
// never a purged object served.
//
// The same filter covers every purge while its disk step is in progress
// (Store.applying): Store.Purge purges memory and the pending writes first,
// so that it holds at once, and its disk step (which waits for the
// writer's transaction and pays an fsync) follows.

// unappliedPurge is one invalidation whose disk effect failed.
type unappliedPurge struct {
	m    *matcher
	soft bool
}

// unappliedSet holds the invalidations whose disk effect failed.
type unappliedSet struct {
	mu   sync.Mutex // guards list
	list []unappliedPurge
}

func (u *unappliedSet) add(m *matcher, soft bool) {
	u.mu.Lock()
	u.list = append(u.list, unappliedPurge{m: m, soft: soft})
	u.mu.Unlock()
}

// filter applies the unapplied purges to a disk hit: nil if a hard one
// matches it, a stale copy if only soft ones do. hidden reports whether it
// changed anything (then e must not be promoted).
func (u *unappliedSet) filter(e *Entry) (out *Entry, hidden bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	out = e
	for _, p := range u.list {
		if !p.m.match(e) {
			continue
		}
		if !p.soft {
			return nil, true
		}
		out = out.markedStale(p.m.staleAt())
		hidden = true
	}
	return out, hidden
}

// settle follows the disk step of an invalidation, under the writer's txMu
// and before the memory tier is purged: on failure it remembers the
// invalidation (so disk hits that it covers are hidden until it is
// applied), on success it re-applies those that failed earlier.
func (u *unappliedSet) settle(d *disk, err error, m func() *matcher, soft bool) {
	switch {
	case err == nil:
		u.retry(d)
	case !errors.Is(err, ErrClosed):
		u.add(m(), soft)
	}
}

// retry re-applies the unapplied purges on d, dropping each that succeeds.
// The caller holds the writer's txMu.
func (u *unappliedSet) retry(d *disk) {
	u.mu.Lock()
	list := append([]unappliedPurge(nil), u.list...)
	u.mu.Unlock()
	if len(list) == 0 {
		return
	}
	done := make(map[*matcher]bool)
	for _, p := range list {
		if _, err := d.purge(p.m, p.soft, appliedMark{}, nil); err != nil {
			break // the disk still fails; keep them all for later
		}
		done[p.m] = true
	}
	u.mu.Lock()
	kept := u.list[:0]
	for _, p := range u.list {
		if !done[p.m] {
			kept = append(kept, p)
		}
	}
	u.list = kept
	u.mu.Unlock()
}

// drop forgets m (an invalidation whose disk step is done).
func (u *unappliedSet) drop(m *matcher) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.list = slices.DeleteFunc(u.list, func(p unappliedPurge) bool { return p.m == m })
}

// hide applies to a disk hit the purges whose disk step is not done: those
// announced (Store.hidden), in progress (Store.applying) and those that
// failed (Store.unapplied).
func (s *Store) hide(e *Entry) (out *Entry, hidden bool) {
	out = e
	for _, set := range []*unappliedSet{&s.hidden, &s.applying, &s.unapplied} {
		f, h := set.filter(out)
		if f == nil {
			return nil, true
		}
		out, hidden = f, hidden || h
	}
	return out, hidden
}
