package storage

import (
	"encoding/binary"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// rowInfo is the small per-key record kept in the seq bucket beside the
// entry: everything that LRU eviction, deletes and purges need to know about
// an entry without decoding its (possibly large) value.
//
//	lru    8 bytes BE  the key's current LRU sequence (its lru row)
//	write  8 bytes BE  the entries bucket sequence when the entry was written
//	flags  1 byte      infoStale: marked stale by a soft purge;
//	                   infoStaleAt: staleAt follows
//	staleAt 8 bytes BE when the soft purge marked it, Unix nanoseconds
//	                   (only with infoStaleAt)
//	fileID 8 bytes BE  the body file's id (only with infoFile)
//	fileSize 8 bytes BE its size (only with infoFile)
//	tags   uvarint count, then per tag a uvarint length and its bytes
//
// A value of exactly 8 bytes (the layout before purges existed) reads as
// write 0, no flags, no tags.
type rowInfo struct {
	lru, write uint64
	stale      bool
	staleAt    int64  // Unix nanoseconds; 0: unknown
	fileID     uint64 // the body file's id; 0: the body is in the value
	fileSize   int64
	tags       []byte // the encoded tags region (count and strings), may be nil
}

const (
	infoFixedLen = 17
	infoStale    = 1 << 0
	infoStaleAt  = 1 << 1
	infoFile     = 1 << 2
)

func (ri rowInfo) encode() []byte {
	b := make([]byte, 0, infoFixedLen+24+len(ri.tags))
	b = binary.BigEndian.AppendUint64(b, ri.lru)
	b = binary.BigEndian.AppendUint64(b, ri.write)
	var flags byte
	if ri.stale {
		flags |= infoStale
		if ri.staleAt != 0 {
			flags |= infoStaleAt
		}
	}
	if ri.fileID != 0 {
		flags |= infoFile
	}
	b = append(b, flags)
	if flags&infoStaleAt != 0 {
		b = binary.BigEndian.AppendUint64(b, uint64(ri.staleAt))
	}
	if flags&infoFile != 0 {
		b = binary.BigEndian.AppendUint64(b, ri.fileID)
		b = binary.BigEndian.AppendUint64(b, uint64(ri.fileSize))
	}
	return append(b, ri.tags...)
}

// parseInfo decodes a seq bucket value; ok is false for a damaged one.
func parseInfo(b []byte) (ri rowInfo, ok bool) {
	switch {
	case len(b) == 8:
		return rowInfo{lru: binary.BigEndian.Uint64(b)}, true
	case len(b) < infoFixedLen:
		return rowInfo{}, false
	}
	ri.lru = binary.BigEndian.Uint64(b)
	ri.write = binary.BigEndian.Uint64(b[8:])
	flags := b[16]
	ri.stale = flags&infoStale != 0
	b = b[infoFixedLen:]
	if flags&infoStaleAt != 0 {
		if len(b) < 8 || !ri.stale {
			return rowInfo{}, false
		}
		if ri.staleAt = int64(binary.BigEndian.Uint64(b)); ri.staleAt == 0 {
			return rowInfo{}, false // encode never writes it
		}
		b = b[8:]
	}
	if flags&infoFile != 0 {
		if len(b) < 16 {
			return rowInfo{}, false
		}
		ri.fileID, ri.fileSize = binary.BigEndian.Uint64(b), int64(binary.BigEndian.Uint64(b[8:]))
		if ri.fileID == 0 || ri.fileSize < 0 {
			return rowInfo{}, false
		}
		b = b[16:]
	}
	if len(b) > 0 {
		ri.tags = b
	}
	return ri, forEachTag(ri.tags, func([]byte) error { return nil }) == nil
}

// encodeTags returns the tags region of a rowInfo for tags: each distinct
// non-empty tag once. ok is false when a tag cannot be indexed (it contains
// NUL, the separator of tag rows, or its row would exceed bbolt's key size):
// such an entry is not written to disk, since a tag purge could not find it.
func encodeTags(key string, tags []string) (b []byte, ok bool) {
	var uniq []string
	for _, tag := range tags {
		switch {
		case tag == "":
			continue // matches no purge
		case strings.IndexByte(tag, 0) >= 0, len(tag)+1+len(key) > bolt.MaxKeySize:
			return nil, false
		}
		if !slices.Contains(uniq, tag) {
			uniq = append(uniq, tag)
		}
	}
	if len(uniq) == 0 {
		return nil, true
	}
	return appendStrings(nil, uniq), true
}

// forEachTag calls fn with every tag of an encoded tags region.
func forEachTag(b []byte, fn func(tag []byte) error) error {
	if len(b) == 0 {
		return nil
	}
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)) {
		return corruptf("tag count")
	}
	b = b[w:]
	for range n {
		l, w := binary.Uvarint(b)
		if w <= 0 || l > uint64(len(b)-w) {
			return corruptf("tag length")
		}
		if err := fn(b[w : w+int(l)]); err != nil {
			return err
		}
		b = b[w+int(l):]
	}
	if len(b) != 0 {
		return corruptf("%d bytes after tags", len(b))
	}
	return nil
}

// hasTag reports whether an encoded tags region holds tag.
func hasTag(b []byte, tag []byte) bool {
	found := false
	_ = forEachTag(b, func(t []byte) error {
		if string(t) == string(tag) {
			found = true
		}
		return nil
	})
	return found
}

// tagRow is the tags bucket key of (tag, key).
func tagRow(tag, key []byte) []byte {
	b := make([]byte, 0, len(tag)+1+len(key))
	b = append(b, tag...)
	b = append(b, 0)
	return append(b, key...)
}

// infoCost is what an entry's rowInfo (raw, as stored) and its tag rows add
// to the disk total beyond rowCost (a legacy 8-byte rowInfo adds nothing).
func infoCost(keyLen int, raw []byte, tags []byte) int64 {
	n := int64(max(len(raw)-8, 0))
	_ = forEachTag(tags, func(t []byte) error {
		n += int64(len(t) + 1 + keyLen)
		return nil
	})
	return n
}
