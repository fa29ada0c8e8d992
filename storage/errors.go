package storage

import "errors"

// Sentinel errors. Returned errors wrap them; test with errors.Is.
var (
	// ErrNotFound: the key is in neither tier (a damaged disk record also
	// reads as not found, after it has been dropped).
	ErrNotFound = errors.New("storage: not found")
	// ErrCorrupt: Decode met a damaged or unknown encoding (bad version,
	// checksum mismatch, truncation, impossible lengths).
	ErrCorrupt = errors.New("storage: corrupt entry")
	// ErrClosed: the Store has been closed.
	ErrClosed = errors.New("storage: store closed")
	// ErrOverBudget: GetBytesWithin found the entry on disk, but its
	// Admitter refused the memory decoding it would take.
	ErrOverBudget = errors.New("storage: over the memory budget")
)
