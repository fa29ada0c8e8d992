package storage

import (
	"os"
	"sync"
)

// An fdCache keeps body files open between hits, as nginx's
// open_file_cache does: a hit on a hot body takes a descriptor opened
// (and size-checked) by an earlier hit and gives it back rewound, instead
// of paying open, fstat and close (and the path lookup) every time. That
// was about a fifth of a 100 KiB hit's CPU.
//
// Why a kept descriptor never serves the wrong bytes: a body file is never
// written after its record names it, and its id is never reused (ids are
// random and files are created with O_EXCL), so a descriptor of id X reads
// X's bytes for as long as it is open; a replaced or purged body has a new
// id or no record, and a lookup reaches id X only through a record that
// names it. Removing a file (a purge, eviction, replacement, the sweep)
// drops its id here, closing the idle descriptors so that the disk space
// is given back, and a descriptor lent out at that moment is closed when
// it comes back instead of being kept.
//
// Descriptors are lent exclusively: sendfile(2) sends from and moves the
// file's own offset, so two responses must never share one. A hot body
// served to many clients at once has as many descriptors as it has
// concurrent responses, within the cache's bound.
type fdCache struct {
	mu   sync.Mutex
	max  int // most idle descriptors kept
	idle int // idle descriptors held
	byID map[uint64]*fdEntry
	// lru links the entries that hold idle descriptors, most recently
	// given back at head.next; head is a sentinel.
	head fdEntry
}

// fdEntry is what the cache holds for one body file: its idle descriptors
// and how many are lent out.
type fdEntry struct {
	id         uint64
	files      []*os.File // idle, each rewound to the start
	lent       int
	prev, next *fdEntry // in the lru list while len(files) > 0
}

// defaultOpenFiles bounds the idle descriptors a store keeps: each costs a
// kernel file object, and an unlinked file's space is given back only when
// its last descriptor closes (removal drops them at once, see drop).
const defaultOpenFiles = 1024

func newFDCache(max int) *fdCache {
	c := &fdCache{max: max, byID: make(map[uint64]*fdEntry)}
	c.head.prev, c.head.next = &c.head, &c.head
	return c
}

// take lends an idle descriptor of id, or returns nil for the caller to
// open one; either way the caller gives the one it uses back with put(e).
func (c *fdCache) take(id uint64) (*os.File, *fdEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.byID[id]
	if e == nil {
		e = &fdEntry{id: id}
		c.byID[id] = e
	}
	e.lent++
	n := len(e.files)
	if n == 0 {
		return nil, e
	}
	f := e.files[n-1]
	e.files[n-1] = nil
	e.files = e.files[:n-1]
	c.idle--
	if n == 1 {
		c.unlink(e)
	}
	return f, e
}

// put gives back f, lent (or opened) under e: rewound and kept when e is
// still the cache's entry for its id, closed otherwise (the file was
// removed meanwhile, or it could not be rewound).
func (c *fdCache) put(e *fdEntry, f *os.File) {
	keep := f != nil
	if keep {
		if err := rewind(f); err != nil {
			keep = false
		}
	}
	var closing []*os.File
	c.mu.Lock()
	e.lent--
	switch {
	case c.byID[e.id] != e:
		keep = false
	case keep && c.max > 0:
		e.files = append(e.files, f)
		c.idle++
		c.unlink(e)
		c.pushFront(e)
		for c.idle > c.max {
			closing = append(closing, c.evictOldest())
		}
	default:
		keep = false
	}
	if len(e.files) == 0 && e.lent == 0 && c.byID[e.id] == e {
		delete(c.byID, e.id)
	}
	c.mu.Unlock()
	if !keep && f != nil {
		closing = append(closing, f)
	}
	for _, f := range closing {
		_ = f.Close()
	}
}

// evictOldest removes one idle descriptor of the least recently used
// entry and returns it to be closed. c.mu is held and c.idle > 0.
func (c *fdCache) evictOldest() *os.File {
	e := c.head.prev
	f := e.files[0]
	e.files[0] = nil
	e.files = e.files[1:]
	c.idle--
	if len(e.files) == 0 {
		c.unlink(e)
		if e.lent == 0 {
			delete(c.byID, e.id)
		}
	}
	return f
}

// drop forgets id, whose file is being removed: its idle descriptors are
// closed, and lent ones are closed when given back.
func (c *fdCache) drop(ids ...uint64) {
	var closing []*os.File
	c.mu.Lock()
	for _, id := range ids {
		e := c.byID[id]
		if e == nil {
			continue
		}
		delete(c.byID, id)
		c.unlink(e)
		c.idle -= len(e.files)
		closing = append(closing, e.files...)
		e.files = nil
	}
	c.mu.Unlock()
	for _, f := range closing {
		_ = f.Close()
	}
}

// dropAll closes every idle descriptor and forgets every entry.
func (c *fdCache) dropAll() {
	c.mu.Lock()
	ids := make([]uint64, 0, len(c.byID))
	for id := range c.byID {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	c.drop(ids...)
}

// close drops everything and keeps nothing from now on (the store is
// closing; descriptors still lent are closed when given back).
func (c *fdCache) close() {
	c.mu.Lock()
	c.max = 0
	c.mu.Unlock()
	c.dropAll()
}

func (c *fdCache) unlink(e *fdEntry) {
	if e.prev != nil {
		e.prev.next, e.next.prev = e.next, e.prev
		e.prev, e.next = nil, nil
	}
}

func (c *fdCache) pushFront(e *fdEntry) {
	e.prev, e.next = &c.head, c.head.next
	c.head.next.prev = e
	c.head.next = e
}

// BodyFile is a body file open for one response, lent by the store (see
// Entry.LendBody). File is positioned at the body's start; Close gives it
// back. It is not for concurrent use.
type BodyFile struct {
	f *os.File
	c *fdCache
	e *fdEntry
}

// File returns the open file, for reading, seeking or sending it with
// sendfile(2). It must not be closed directly.
func (b *BodyFile) File() *os.File { return b.f }

// Close gives the file back to the store; it is kept open for the next
// hit on the same body when the store still keeps that body.
func (b *BodyFile) Close() error {
	if b.f == nil {
		return nil
	}
	f := b.f
	b.f = nil
	if b.c == nil {
		return f.Close()
	}
	b.c.put(b.e, f)
	return nil
}

// lend lends r's file: a descriptor the cache keeps, or one opened (and
// checked) now, given back by the BodyFile's Close.
func (r *fileRef) lend() (BodyFile, error) {
	if r.files == nil || r.files.fds == nil {
		f, err := r.open()
		return BodyFile{f: f}, err
	}
	c := r.files.fds
	f, e := c.take(r.id)
	if f == nil {
		var err error
		if f, err = r.open(); err != nil {
			c.put(e, nil)
			return BodyFile{}, err
		}
	}
	return BodyFile{f: f, c: c, e: e}, nil
}
