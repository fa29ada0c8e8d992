package storage

import (
	"bytes"
	"hash/maphash"
	"sync/atomic"
)

// decodedRecords remembers, per key, the last disk record a Get decoded
// and the Entry decoded from it, so that the next hit whose record has
// the same bytes returns that Entry instead of decoding it again: the
// decode (the header map, the strings, the body reference) was half of a
// disk hit's allocations and a quarter of its CPU (BenchmarkDiskLookup),
// and an Entry that lives on across hits keeps what a caller derives from
// it (Entry.SetDerived: edge's parsed freshness fields).
//
// It changes nothing of what a Get returns: every hit still reads its
// record from bbolt in its own read transaction (with its rowInfo and the
// stale markers), and a remembered Entry is used only when the record is
// byte for byte the one it was decoded from, so it is exactly what Decode
// would return, checksum included (a damaged record differs, is decoded,
// and fails as before). A record purged, replaced or marked stale since
// is not found, differs, or is marked stale after the lookup as any
// decoded one is (on a copy: a remembered Entry is never modified).
//
// It is bounded: decodedSlots slots indexed by a hash of the key (a
// collision replaces the older key), each holding a record's bytes and its
// Entry (Entry.Size: its header, strings and body, and the room for a
// value a caller attaches) of at most decodedMaxBytes together: a body
// file's record is its head, a body kept in bbolt is remembered only when
// small, and a head of many short fields, whose decoded map is much
// larger than its bytes, is counted as such. At most 8 MiB; a hot key's
// head typically takes one or two KiB.
type decodedRecords struct {
	seed  maphash.Seed
	slots [decodedSlots]atomic.Pointer[decodedRecord]
}

const (
	decodedSlots    = 1024
	decodedMaxBytes = 8 << 10
)

// decodedRecord is a record's bytes (a copy) and the Entry Decode made of
// them, shared by every Get that finds them.
type decodedRecord struct {
	raw []byte
	e   *Entry
}

func newDecodedRecords() *decodedRecords {
	return &decodedRecords{seed: maphash.MakeSeed()}
}

func (d *decodedRecords) slot(key string) *atomic.Pointer[decodedRecord] {
	return &d.slots[maphash.String(d.seed, key)%decodedSlots]
}

// get returns the Entry decoded from the record raw stored under key, if
// it is remembered. raw may be a bbolt page: it is only read.
func (d *decodedRecords) get(key string, raw []byte) *Entry {
	r := d.slot(key).Load()
	if r == nil || r.e.Key != key || !bytes.Equal(r.raw, raw) {
		return nil
	}
	return r.e
}

// put remembers e, decoded from raw (which it copies), for the next Get
// of e.Key. e must not be modified afterwards.
func (d *decodedRecords) put(raw []byte, e *Entry) {
	if len(raw) > decodedMaxBytes || int64(len(raw))+e.Size() > decodedMaxBytes {
		return
	}
	e.shared = true
	d.slot(e.Key).Store(&decodedRecord{raw: bytes.Clone(raw), e: e})
}
