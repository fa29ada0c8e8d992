package storage

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// Entry is one stored response.
//
// Entries passed to Set and returned by Get are shared between goroutines:
// once handed to the Store an Entry and everything it points to (Header,
// Body, Vary, Tags) MUST be treated as immutable. To change a stored
// response, build a new Entry (copying what it keeps) and Set that.
type Entry struct {
	Key    string // the full storage key
	Status int
	Header http.Header
	Body   []byte
	// RequestTime and ResponseTime are stored as Unix nanoseconds (so
	// instants between the years 1678 and 2262); the zero Time round-trips
	// as the zero Time. Decoded times are in the local time zone.
	RequestTime  time.Time
	ResponseTime time.Time
	// Vary, when non-nil, makes this entry a Vary index ("stub") stored under
	// a primary key: it names the request fields that select variants stored
	// under other keys, and Body is empty.
	Vary []string
	Tags []string // surrogate keys / cache tags
	// Stale is set on an entry a soft purge marked stale, and on one whose
	// fetch overlapped a purge (its content may predate it). It must be
	// validated before it is used as fresh.
	Stale bool
	// StaleAt, when Stale, is when the soft purge that marked the entry was
	// applied (the Store's clock): stale-while-revalidate and
	// stale-if-error count from it. It is zero when the entry must not be
	// served at all before it is validated: its fetch overlapped a hard
	// purge, or it was marked before purge times were recorded.
	StaleAt time.Time
	// MustRevalidate is set by the caller on a response that, once stale,
	// must not be served at all before it is validated, whatever the
	// response's header says (as if it carried must-revalidate, RFC 9111
	// §5.2.2.2): edge sets it on a page stored for one user's request
	// (see edge/policy.PerUser). The store keeps it through every tier,
	// soft purge and restart; it never changes it.
	MustRevalidate bool

	// file, when set, holds the body instead of Body (nil): a large body
	// the disk tier keeps in a file of its own (bodyfile.go).
	file *fileRef
	// shared: the disk tier returns this entry to every hit on its
	// record (decoded.go); set before it is shared.
	shared bool

	// derived is a value a user of the Store computed from the fields
	// above and cached on the entry (see Derived). It is not part of the
	// stored response: it is never encoded, and a copy of an entry starts
	// without it. Its noCopy guard makes go vet reject copying an Entry
	// by value, which would race with SetDerived.
	derived atomic.Pointer[any]
}

// BodyLen returns the length of the body, in Body or in its file.
func (e *Entry) BodyLen() int64 {
	if e.file != nil {
		return e.file.size
	}
	return int64(len(e.Body))
}

// InFile reports whether the body is in a file (read it with OpenBody or
// ReadBody) rather than in Body.
func (e *Entry) InFile() bool { return e.file != nil }

// OpenBody opens the file that holds e's body, positioned at its start;
// the caller closes it. The file's size is checked at every open and its
// checksum at the first open in the process: a damaged file is an error
// wrapping ErrCorrupt, a file removed since e was read (a purge, an
// eviction, a newer write of the key) one wrapping ErrNotFound. Either way
// the caller treats e as a miss. It is an error for an entry whose body is
// in Body.
func (e *Entry) OpenBody() (*os.File, error) {
	if e.file == nil {
		return nil, fmt.Errorf("entry %q: body not in a file", e.Key)
	}
	return e.file.open()
}

// LendBody is OpenBody for sending the body once: the file may be one the
// store keeps open between hits (checked when it was opened), and the
// BodyFile's Close gives it back rather than closing it.
func (e *Entry) LendBody() (BodyFile, error) {
	if e.file == nil {
		return BodyFile{}, fmt.Errorf("entry %q: body not in a file", e.Key)
	}
	return e.file.lend()
}

// Shared reports whether the disk tier returns e to the later hits on
// the record it was decoded from, as the memory tier returns its entries
// (see decoded.go), rather than decoding a new Entry for each: a value
// cached on it with SetDerived serves them too.
func (e *Entry) Shared() bool { return e.shared }

// ReadBody returns the body: Body itself, or the file's bytes read into
// memory (for what needs them whole, such as compression).
func (e *Entry) ReadBody() ([]byte, error) {
	if e.file == nil {
		return e.Body, nil
	}
	f, err := e.file.open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, e.file.size)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("body file of %q: %w", e.Key, err)
	}
	return b, nil
}

// ShareBody gives e the body of src, in memory or in its file. e must not
// have been handed to the Store yet.
func (e *Entry) ShareBody(src *Entry) {
	e.Body, e.file = src.Body, src.file
}

// Derived returns the value cached by SetDerived, or nil.
func (e *Entry) Derived() any {
	if p := e.derived.Load(); p != nil {
		return *p
	}
	return nil
}

// SetDerived caches v on e unless a value is cached already, and returns
// the cached value (v, or the earlier one). It is safe to call on a shared
// entry, from any goroutine: v must be a value computed from e's fields
// alone (which do not change), so that whichever goroutine wins computed
// the same thing. Copies of e (a soft purge's stale copy, a refreshed
// entry) do not share it.
func (e *Entry) SetDerived(v any) any {
	if e.derived.CompareAndSwap(nil, &v) {
		return v
	}
	return *e.derived.Load()
}

// entryOverhead approximates the bytes of an Entry beyond its strings and
// body: the struct, the header map and slice headers.
const entryOverhead = 256

// derivedReserve is the room an entry's cost keeps for the value a caller
// may attach with SetDerived (edge attaches what a hit parses of the
// header, its hitFacts: 256 bytes with the interface). The cost is fixed
// when an entry enters the memory tier, before anything is attached; without the
// reserve, a tier of small objects all being hit would hold up to that much
// more than its budget.
const derivedReserve = 256

// Size returns the approximate bytes the entry occupies in memory: key, body,
// header names and values, Vary and Tags strings, plus a fixed overhead. It
// is the entry's cost in the memory tier.
func (e *Entry) Size() int64 {
	n := int64(entryOverhead + derivedReserve + len(e.Key) + len(e.Body))
	for k, vs := range e.Header {
		n += int64(len(k)) + 16
		for _, v := range vs {
			n += int64(len(v)) + 16
		}
	}
	for _, s := range e.Vary {
		n += int64(len(s)) + 16
	}
	for _, s := range e.Tags {
		n += int64(len(s)) + 16
	}
	return n
}

// Tier names where Get found an entry.
type Tier int

// Tiers, from none (a miss) to the slowest.
const (
	TierNone   Tier = iota // not found
	TierMemory             // the memory tier, or a Set whose disk write is still pending
	TierDisk               // the disk tier
)

// String returns "none", "memory" or "disk" (and "Tier(n)" for other values).
func (t Tier) String() string {
	switch t {
	case TierNone:
		return "none"
	case TierMemory:
		return "memory"
	case TierDisk:
		return "disk"
	default:
		return fmt.Sprintf("Tier(%d)", int(t))
	}
}
