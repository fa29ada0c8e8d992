package storage

import (
	"bytes"
	"errors"
	"fmt"
	"sort"

	bolt "go.etcd.io/bbolt"
)

// Held is one entry as Family reports it: its metadata, without its body,
// and the tiers that hold it.
type Held struct {
	// Entry is a copy of the stored entry with Body nil (Header, Vary and
	// Tags are shared: do not modify them). Stale is set as Get would.
	Entry   *Entry
	BodyLen int
	Memory  bool // the memory tier holds it (or its disk write is queued)
	Disk    bool // the disk tier holds it
}

// Family returns what the store holds under key and under every key
// derived from it (key + "\x00" + anything: the keys a Purge of key
// reaches), ordered by key, at most limit of them (limit <= 0: 100); more
// reports whether there were others. It is for operators looking at a
// node: unlike Get it promotes nothing and touches no LRU recency, and a
// damaged record is skipped (Get drops it). An entry hidden by a purge
// whose disk step failed is left out, as Get leaves it out. Only one body
// is in memory at a time: each disk record is decoded and its body dropped.
// A Set still in the disk queue shows as memory-held only if the memory
// tier took it; else it shows once its write lands (milliseconds).
func (s *Store) Family(key string, limit int) (held []Held, more bool, err error) {
	if limit <= 0 {
		limit = 100
	}
	if !s.life.enter() {
		return nil, false, ErrClosed
	}
	defer s.life.leave()
	byKey := map[string]*Held{}
	if s.mem != nil {
		for _, e := range s.mem.matching(newMatcher(Purge{Keys: []string{key}})) {
			byKey[e.Key] = &Held{Entry: withoutBody(e), BodyLen: len(e.Body), Memory: true}
		}
	}
	family := []byte(key + "\x00")
	err = s.disk.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEntries).Cursor()
		n := 0
		for k, v := c.Seek([]byte(key)); k != nil && (string(k) == key || bytes.HasPrefix(k, family)); k, v = c.Next() {
			if n == limit+1 {
				break
			}
			n++
			e, err := Decode(v)
			if err != nil || e.Key != string(k) {
				continue
			}
			if stale, at := s.disk.isStale(tx, k); stale {
				e.StaleAt = laterStale(e.Stale, e.StaleAt, at)
				e.Stale = true
			}
			h := byKey[e.Key]
			if h == nil {
				h = &Held{Entry: withoutBody(e), BodyLen: len(e.Body)}
				byKey[e.Key] = h
			} else if e.Stale && !h.Entry.Stale {
				h.Entry = withoutBody(e) // the disk knows of a soft purge memory has not applied yet
			}
			h.Disk = true
		}
		return nil
	})
	if err != nil && !errors.Is(err, errDamaged) && !errors.Is(err, errNoDisk) {
		return nil, false, fmt.Errorf("family %q: %w", key, err)
	}
	for _, h := range byKey {
		f, hidden := s.hide(h.Entry)
		if hidden && f == nil {
			continue
		}
		h.Entry = f
		held = append(held, *h)
	}
	sort.Slice(held, func(i, j int) bool { return held[i].Entry.Key < held[j].Entry.Key })
	if len(held) > limit {
		held, more = held[:limit], true
	}
	return held, more, nil
}

// withoutBody copies e's metadata; the body stays behind.
func withoutBody(e *Entry) *Entry {
	return &Entry{
		Key: e.Key, Status: e.Status, Header: e.Header,
		RequestTime: e.RequestTime, ResponseTime: e.ResponseTime,
		Vary: e.Vary, Tags: e.Tags, Stale: e.Stale, StaleAt: e.StaleAt,
		MustRevalidate: e.MustRevalidate,
	}
}
