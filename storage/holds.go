package storage

import (
	"errors"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Holds reports whether what Get would return for e.Key is still the
// response e is: stored with e's request and response times and e's stale
// mark (Stale and StaleAt, a soft purge's included). It is false once that
// entry has been evicted, deleted, purged, marked stale, refetched or
// refreshed since e was read, after Close, and on a read error. It is for
// a caller that stored something derived from e (under a key of e's
// family, so that invalidations of e reach it) and keeps it only while e
// stands.
//
// Unlike Get it reads no body, promotes nothing and moves no recency: of a
// disk record it reads the fields before the strings region and the key,
// without the checksum (a damaged record may be reported held; the next
// Get drops it). A record with e's times is e's, so e.Tags stand for its
// tags when the invalidations whose disk step is not done are applied to
// it (see Hide).
func (s *Store) Holds(e *Entry) bool {
	if e == nil || !s.life.enter() {
		return false
	}
	defer s.life.leave()
	cur := s.current(e)
	return cur != nil && sameResponse(cur, e)
}

// current is what Get would return for e.Key, as far as Holds compares it
// (nil: nothing). The tiers are looked at in Get's order.
func (s *Store) current(e *Entry) *Entry {
	if s.mem != nil {
		if m, ok := s.mem.get(e.Key); ok {
			return m
		}
	}
	if p := s.w.pending.get(e.Key); p != nil {
		f, _ := s.hidden.filter(p) // see Hide
		return f
	}
	d, err := s.disk.head(e.Key)
	if err != nil || !sameTimes(d, e) {
		return nil
	}
	d.Tags = e.Tags
	f, _ := s.hide(d)
	return f
}

// sameResponse reports whether stored is the response e is: the same
// times and the same stale mark.
func sameResponse(stored, e *Entry) bool {
	return sameTimes(stored, e) && stored.Stale == e.Stale && stored.StaleAt.Equal(e.StaleAt)
}

func sameTimes(a, b *Entry) bool {
	return a.ResponseTime.Equal(b.ResponseTime) && a.RequestTime.Equal(b.RequestTime)
}

// head is get without the body: the record under key read by decodeHead,
// with Stale set as get sets it.
func (d *disk) head(key string) (*Entry, error) {
	if d.absent.absent(key) {
		return nil, ErrNotFound
	}
	k := []byte(key)
	var e *Entry
	err := d.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketEntries).Get(k)
		if v == nil {
			return ErrNotFound
		}
		var err error
		if e, err = decodeHead(v, key); err != nil {
			return err
		}
		if stale, at := d.isStale(tx, k); stale {
			e.StaleAt = laterStale(e.Stale, e.StaleAt, at) // e is this call's own
			e.Stale = true
		}
		return nil
	})
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		err = ErrClosed
	}
	return e, err
}
