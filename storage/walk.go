package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// After a crash the file holds no synced freelist (see damage.go) and
// bbolt rebuilds it at Open by walking every bucket's pages in a goroutine
// of its own, where a damaged page is fatal: a page whose header does not
// match (its assertion), a page, key or value past the end of the file or
// of its page (a fault), a bucket value too short (an index out of range),
// a cycle (unbounded recursion). walkFile checks first, reading the file
// (through a read-only mapping where there is one) with every bound
// checked, that the walk will meet none of these.
// Defects bbolt's walk only reports (key order, pages referenced twice,
// unreachable pages) make it panic in Open's own goroutine, which guard
// recovers. The walk reads the first page of every branch and leaf page
// reachable from the root (not the overflow pages that hold large values):
// about what bbolt's own rebuild reads, and only after a crash (measured:
// 65-90 ms for 100k entries of 1 KiB, bbolt's rebuild 110-150 ms).

// bbolt page and element layout (go.etcd.io/bbolt/internal/common).
const (
	branchPageFlag   = 0x01
	leafPageFlag     = 0x02
	bucketLeafFlag   = 0x01
	pageElementSize  = 16 // branch: pos, ksize u32, pgid u64; leaf: flags, pos, ksize, vsize u32
	bucketHeaderSize = 16 // root page u64, sequence u64
	maxWalkDepth     = 64 // far beyond any real tree (bbolt's are a few levels)
)

type fileWalker struct {
	read func(off, n int64) ([]byte, error) // the file's bytes
	ps   int64
	hwm  uint64
	seen []uint64 // a bit per page: reached (bbolt reports a page reached twice)
}

// walkFile checks the trees of the file whose meta page is m (see above).
func walkFile(read func(off, n int64) ([]byte, error), m boltMeta) error {
	w := &fileWalker{read: read, ps: int64(m.pageSize), hwm: m.hwm, seen: make([]uint64, (m.hwm+63)/64)}
	_, err := w.tree(m.rootPage, 0, nil, nil)
	return err
}

func walkErr(format string, args ...any) error {
	return &damageError{cause: fmt.Errorf("walking the file after an unclean shutdown: "+format, args...)}
}

// Every defect that bbolt's walk reports must be found here too: it sends
// them to the goroutine that opens the file, which panics at the first one
// (recovered), while the walk goes on reading pages through a transaction
// that the panic closes: a nil dereference in bbolt's goroutine, fatal. So
// tree checks what bbolt's recursivelyCheckBucket checks (page ids within
// the file, pages reached once, page types, and key order as its
// recursivelyCheckPageKeyOrderInternal has it: keys ascending within a
// page, a child's keys from its parent element's key up to the next one),
// besides what would make it panic or fault.

// tree checks page id and every page below it, whose keys must lie in
// [lo, hi) (nil: unbounded); it returns the largest key below id.
func (w *fileWalker) tree(id uint64, depth int, lo, hi []byte) ([]byte, error) {
	if depth > maxWalkDepth {
		return nil, walkErr("tree deeper than %d pages at page %d", maxWalkDepth, id)
	}
	if id < 2 || id >= w.hwm {
		return nil, walkErr("page %d outside the file's %d pages", id, w.hwm)
	}
	head, err := w.read(int64(id)*w.ps, w.ps)
	if err != nil {
		return nil, err
	}
	if int64(len(head)) < w.ps {
		return nil, walkErr("page %d past the end of the file", id)
	}
	ne := binary.NativeEndian
	if got := ne.Uint64(head); got != id {
		return nil, walkErr("page %d says it is page %d", id, got)
	}
	overflow := uint64(ne.Uint32(head[12:]))
	if id+overflow >= w.hwm {
		return nil, walkErr("page %d runs past the file's %d pages", id, w.hwm)
	}
	for p := id; p <= id+overflow; p++ {
		if w.seen[p/64]&(1<<(p%64)) != 0 {
			return nil, walkErr("page %d reached twice", p)
		}
		w.seen[p/64] |= 1 << (p % 64)
	}
	span := int64(overflow+1) * w.ps
	count := int64(ne.Uint16(head[10:]))
	table := pageHeaderSize + count*pageElementSize
	if table > span {
		return nil, walkErr("page %d: %d elements do not fit", id, count)
	}
	if table > int64(len(head)) {
		if head, err = w.read(int64(id)*w.ps, table); err != nil {
			return nil, err
		}
		if int64(len(head)) < table {
			return nil, walkErr("page %d past the end of the file", id)
		}
	}
	base := int64(id) * w.ps
	at := func(off, n int64) ([]byte, error) { return w.read(base+off, n) }
	switch ne.Uint16(head[8:]) {
	case branchPageFlag:
		if count == 0 {
			return nil, walkErr("branch page %d is empty", id)
		}
		keys := make([][]byte, count)
		for i := range count {
			el := head[pageHeaderSize+i*pageElementSize:]
			if keys[i], err = w.key(id, i, span, int64(ne.Uint32(el[0:])), int64(ne.Uint32(el[4:])), 0, at); err != nil {
				return nil, err
			}
		}
		prev, max := lo, []byte(nil)
		for i := range count {
			if err := keyInOrder(id, i, keys[i], prev, hi); err != nil {
				return nil, err
			}
			next := hi
			if i < count-1 {
				next = keys[i+1]
			}
			el := head[pageHeaderSize+i*pageElementSize:]
			if max, err = w.tree(ne.Uint64(el[8:]), depth+1, keys[i], next); err != nil {
				return nil, err
			}
			prev = max
		}
		return max, nil
	case leafPageFlag:
		return w.leaf(head, id, span, count, depth, lo, hi, at)
	default:
		return nil, walkErr("page %d is neither a branch nor a leaf (flags %#x)", id, ne.Uint16(head[8:]))
	}
}

// keyInOrder is bbolt's verifyKeyOrder: element i's key follows prev (the
// previous key; for the first, the parent's bound, which it may equal) and
// precedes hi.
func keyInOrder(id uint64, i int64, key, prev, hi []byte) error {
	if i == 0 && prev != nil && bytes.Compare(prev, key) > 0 || i > 0 && bytes.Compare(prev, key) >= 0 {
		return walkErr("page %d: key %d out of order", id, i)
	}
	if hi != nil && bytes.Compare(key, hi) >= 0 {
		return walkErr("page %d: key %d beyond its parent's bound", id, i)
	}
	return nil
}

// key checks that element i of page id, pos bytes from the element, with a
// key and value of ksize and vsize bytes, lies within the page's span of
// bytes, and returns the key (at reads from the page's start).
func (w *fileWalker) key(id uint64, i, span, pos, ksize, vsize int64, at func(off, n int64) ([]byte, error)) ([]byte, error) {
	start := pageHeaderSize + i*pageElementSize + pos
	if end := start + ksize + vsize; end > span {
		return nil, walkErr("page %d element %d ends at byte %d of a %d-byte page", id, i, end, span)
	}
	k, err := at(start, ksize)
	if err == nil && int64(len(k)) < ksize {
		err = walkErr("page %d element %d past the end of the file", id, i)
	}
	return k, err
}

// leaf checks the elements of a leaf page (span bytes long; head holds at
// least its element table; at reads n bytes at off from its start), whose
// keys must lie in [lo, hi), and the buckets they hold. It returns its last
// key.
func (w *fileWalker) leaf(head []byte, id uint64, span, count int64, depth int, lo, hi []byte, at func(off, n int64) ([]byte, error)) ([]byte, error) {
	ne := binary.NativeEndian
	prev := lo
	for i := range count {
		off := pageHeaderSize + i*pageElementSize
		el := head[off:]
		pos, ksize, vsize := int64(ne.Uint32(el[4:])), int64(ne.Uint32(el[8:])), int64(ne.Uint32(el[12:]))
		key, err := w.key(id, i, span, pos, ksize, vsize, at)
		if err != nil {
			return nil, err
		}
		if err := keyInOrder(id, i, key, prev, hi); err != nil {
			return nil, err
		}
		prev = key
		if ne.Uint32(el[0:])&bucketLeafFlag == 0 {
			continue
		}
		// A bucket: its header, then (root page 0) an inline leaf page.
		if vsize < bucketHeaderSize {
			return nil, walkErr("page %d element %d: a bucket value of %d bytes", id, i, vsize)
		}
		v, err := at(off+pos+ksize, vsize)
		if err != nil {
			return nil, err
		}
		if int64(len(v)) < vsize {
			return nil, walkErr("page %d element %d past the end of the file", id, i)
		}
		if root := ne.Uint64(v); root != 0 {
			if _, err := w.tree(root, depth+1, nil, nil); err != nil {
				return nil, err
			}
			continue
		}
		if err := w.inline(v[bucketHeaderSize:], id, depth); err != nil {
			return nil, err
		}
	}
	if count == 0 {
		return nil, nil
	}
	return prev, nil
}

// inline checks an inline bucket's page, held in page id's value.
func (w *fileWalker) inline(p []byte, id uint64, depth int) error {
	if depth > maxWalkDepth {
		return walkErr("too many inline buckets under page %d", id)
	}
	if len(p) < pageHeaderSize {
		return walkErr("page %d: an inline bucket of %d bytes", id, len(p))
	}
	ne := binary.NativeEndian
	if ne.Uint16(p[8:]) != leafPageFlag {
		return walkErr("page %d: an inline bucket that is not a leaf (flags %#x)", id, ne.Uint16(p[8:]))
	}
	count := int64(ne.Uint16(p[10:]))
	if pageHeaderSize+count*pageElementSize > int64(len(p)) {
		return walkErr("page %d: an inline bucket's %d elements do not fit", id, count)
	}
	// Its values are in p itself, not at a page of the file.
	_, err := w.leaf(p, id, int64(len(p)), count, depth+1, nil, nil, func(off, n int64) ([]byte, error) {
		if off+n > int64(len(p)) {
			return nil, walkErr("page %d: an inline bucket's value past its end", id)
		}
		return p[off : off+n], nil
	})
	return err
}
