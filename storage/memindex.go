package storage

import (
	"strings"
	"sync"

	"github.com/google/btree"
)

// memIndex indexes the values offered to the memory tier by key (ordered,
// for key families and prefixes) and by tag, so that a purge finds what it
// removes without walking every resident entry.
//
// It is a superset of what ristretto holds: memory.set adds a value before
// handing it to ristretto, and the value leaves the index only when
// ristretto reports that it left the cache (OnExit: evicted, rejected by
// admission, replaced by a newer value, deleted) or when ristretto dropped
// the Set without taking it. Each Set is counted, because the same *Entry
// may be offered more than once (a caller's repeated Set); each Set ristretto
// accepted ends in exactly one OnExit of its value. So a resident value is
// always indexed; a value stays indexed after it left only while ristretto
// has still to report it (Sets queued, not yet applied).
//
// ristretto may call remove while holding its own locks (Cache.Clear on
// Close), which is why mu is innermost in the Store's lock order (see
// Store).
type memIndex struct {
	mu    sync.Mutex             // guards keys, tags and probe
	keys  *btree.BTreeG[*keyRec] // by key
	tags  *btree.BTreeG[tagRef]  // by tag, then key
	probe keyRec                 // search item for keys, so lookups do not allocate
}

// keyRec is one key's indexed values: usually one, two while a Set replaces
// a resident value and ristretto has not yet reported the old one.
type keyRec struct {
	key  string
	vals []valRef // starts as one[:0]: a new key costs one allocation
	one  [1]valRef
}

type valRef struct {
	e *Entry
	n int // Sets of e not yet balanced by its exit from the cache
}

// tagRef says that n indexed values of key carry tag.
type tagRef struct {
	tag, key string
	n        int
}

// btreeDegree is the B-tree's branching factor (the library's
// recommendation for in-memory trees of small items).
const btreeDegree = 32

func newMemIndex() *memIndex {
	return &memIndex{
		keys: btree.NewG(btreeDegree, func(a, b *keyRec) bool { return a.key < b.key }),
		tags: btree.NewG(btreeDegree, func(a, b tagRef) bool {
			return a.tag < b.tag || a.tag == b.tag && a.key < b.key
		}),
	}
}

// add indexes e and reports whether a value of its key was indexed
// already (hasKey before the add). It must run before e is handed to
// ristretto.
func (x *memIndex) add(e *Entry) (held bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	rec, held := x.rec(e.Key)
	if !held {
		rec = &keyRec{key: e.Key}
		rec.vals = rec.one[:0]
		x.keys.ReplaceOrInsert(rec)
	}
	for i := range rec.vals {
		if rec.vals[i].e == e {
			rec.vals[i].n++
			return held
		}
	}
	rec.vals = append(rec.vals, valRef{e: e, n: 1})
	x.countTags(e, 1)
	return held
}

// remove balances one add of e: the value left the cache, or ristretto never
// took it. Unknown values (nil, or never added) are ignored.
func (x *memIndex) remove(e *Entry) {
	if e == nil {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	rec, ok := x.rec(e.Key)
	if !ok {
		return
	}
	for i := range rec.vals {
		if rec.vals[i].e != e {
			continue
		}
		if rec.vals[i].n--; rec.vals[i].n > 0 {
			return
		}
		last := len(rec.vals) - 1
		rec.vals[i], rec.vals[last] = rec.vals[last], valRef{}
		rec.vals = rec.vals[:last]
		if len(rec.vals) == 0 {
			x.keys.Delete(rec)
		}
		x.countTags(e, -1)
		return
	}
}

// rec returns the record of key. The caller holds mu.
func (x *memIndex) rec(key string) (*keyRec, bool) {
	x.probe.key = key
	rec, ok := x.keys.Get(&x.probe)
	x.probe.key = "" // pin no key
	return rec, ok
}

// countTags adds delta to the tag rows of e's key for each of e's tags. The
// empty tag is not indexed: no purge selects it. The caller holds mu.
func (x *memIndex) countTags(e *Entry, delta int) {
	for _, tag := range e.Tags {
		if tag == "" {
			continue
		}
		ref, _ := x.tags.Get(tagRef{tag: tag, key: e.Key})
		ref.tag, ref.key, ref.n = tag, e.Key, ref.n+delta
		if ref.n > 0 {
			x.tags.ReplaceOrInsert(ref)
		} else {
			x.tags.Delete(ref)
		}
	}
}

// lookup returns the indexed values m selects by key, key family, prefix or
// tag (not m.all: the caller walks the cache for that), each once. Values
// that ristretto has since dropped may be among them.
func (x *memIndex) lookup(m *matcher) []*Entry {
	x.mu.Lock()
	defer x.mu.Unlock()
	var found []*Entry
	seen := make(map[*Entry]struct{})
	take := func(rec *keyRec) {
		for _, v := range rec.vals {
			if _, dup := seen[v.e]; !dup && m.match(v.e) {
				seen[v.e] = struct{}{}
				found = append(found, v.e)
			}
		}
	}
	for k := range m.exact {
		if rec, ok := x.rec(k); ok {
			take(rec)
		}
	}
	for k := range m.families {
		x.ascendPrefix(k, func(rec *keyRec) bool {
			// Keys from k up to k+"\x01" are k and its variants k+"\x00"...
			if len(rec.key) == len(k) || rec.key[len(k)] == 0 {
				take(rec)
				return true
			}
			return false
		})
	}
	for _, p := range m.prefixes {
		x.ascendPrefix(p, func(rec *keyRec) bool { take(rec); return true })
	}
	for tag := range m.tags {
		x.tags.AscendGreaterOrEqual(tagRef{tag: tag}, func(ref tagRef) bool {
			if ref.tag != tag {
				return false
			}
			if rec, ok := x.rec(ref.key); ok {
				take(rec)
			}
			return true
		})
	}
	return found
}

// ascendPrefix calls fn on the records whose key starts with prefix, in
// order, until fn returns false. The caller holds mu.
func (x *memIndex) ascendPrefix(prefix string, fn func(*keyRec) bool) {
	x.keys.AscendGreaterOrEqual(&keyRec{key: prefix}, func(rec *keyRec) bool {
		return strings.HasPrefix(rec.key, prefix) && fn(rec)
	})
}

// size returns the number of indexed keys and values (for tests).
func (x *memIndex) size() (keys, values int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.keys.Ascend(func(rec *keyRec) bool {
		values += len(rec.vals)
		return true
	})
	return x.keys.Len(), values
}

// hasKey reports whether a value of key is indexed: resident, or handed to
// ristretto and not yet reported gone.
func (x *memIndex) hasKey(key string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	_, ok := x.rec(key)
	return ok
}

// has reports whether e is indexed (for tests).
func (x *memIndex) has(e *Entry) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	rec, ok := x.rec(e.Key)
	if !ok {
		return false
	}
	for _, v := range rec.vals {
		if v.e == e {
			return true
		}
	}
	return false
}
