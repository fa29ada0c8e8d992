package storage

import "unsafe"

// Admitter decides whether a disk hit may be decoded: a disk hit's body is
// copied out of the file whole, so a caller that bounds the memory its
// responses hold asks before the copy is made, not after. Admit is given
// the size of the stored record (a little more than the body) and reports
// whether that much memory may be taken; what it admitted is the caller's
// to give back once the entry is no longer needed.
type Admitter interface {
	Admit(size int64) bool
}

// GetBytesWithin is Get for a key held in a buffer the caller reuses (one
// per request, say), except that a disk hit is decoded only if admit (nil:
// any) admits the record's size; otherwise it returns ErrOverBudget (with
// TierDisk) and nothing is copied. Memory hits and pending writes take no
// new memory and are not asked about. Nothing keeps key or its memory once
// it returns, so the caller may overwrite it at once, and no string copy of
// it is made.
func (s *Store) GetBytesWithin(key []byte, admit Admitter) (*Entry, Tier, error) {
	// The string shares key's memory: get copies it before anything
	// outlives the call (the LRU touch, a log line).
	return s.get(unsafe.String(unsafe.SliceData(key), len(key)), admit)
}

// GetWithin is Get with GetBytesWithin's admission of disk hits.
func (s *Store) GetWithin(key string, admit Admitter) (*Entry, Tier, error) {
	return s.get(key, admit)
}
