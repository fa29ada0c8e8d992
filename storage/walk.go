package storage

import (
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
	seen map[uint64]bool // pages reached: twice is a cycle or damage
}

// walkFile checks the trees of the file whose meta page is m (see above).
func walkFile(read func(off, n int64) ([]byte, error), m boltMeta) error {
	w := &fileWalker{read: read, ps: int64(m.pageSize), hwm: m.hwm, seen: make(map[uint64]bool)}
	return w.tree(m.rootPage, 0)
}

func walkErr(format string, args ...any) error {
	return &damageError{cause: fmt.Errorf("walking the file after an unclean shutdown: "+format, args...)}
}

// tree checks the page id and every page below it.
func (w *fileWalker) tree(id uint64, depth int) error {
	if depth > maxWalkDepth {
		return walkErr("tree deeper than %d pages at page %d", maxWalkDepth, id)
	}
	if id < 2 || id >= w.hwm {
		return walkErr("page %d outside the file's %d pages", id, w.hwm)
	}
	if w.seen[id] {
		return walkErr("page %d reached twice", id)
	}
	w.seen[id] = true
	head, err := w.read(int64(id)*w.ps, w.ps)
	if err != nil {
		return err
	}
	if int64(len(head)) < w.ps {
		return walkErr("page %d past the end of the file", id)
	}
	ne := binary.NativeEndian
	if got := ne.Uint64(head); got != id {
		return walkErr("page %d says it is page %d", id, got)
	}
	overflow := uint64(ne.Uint32(head[12:]))
	if id+overflow >= w.hwm {
		return walkErr("page %d runs past the file's %d pages", id, w.hwm)
	}
	span := int64(overflow+1) * w.ps
	count := int64(ne.Uint16(head[10:]))
	table := pageHeaderSize + count*pageElementSize
	if table > span {
		return walkErr("page %d: %d elements do not fit", id, count)
	}
	if table > int64(len(head)) {
		if head, err = w.read(int64(id)*w.ps, table); err != nil {
			return err
		}
		if int64(len(head)) < table {
			return walkErr("page %d past the end of the file", id)
		}
	}
	switch ne.Uint16(head[8:]) {
	case branchPageFlag:
		if count == 0 {
			return walkErr("branch page %d is empty", id)
		}
		for i := range count {
			el := head[pageHeaderSize+i*pageElementSize:]
			if err := w.fits(id, i, span, int64(ne.Uint32(el[0:])), int64(ne.Uint32(el[4:])), 0); err != nil {
				return err
			}
			if err := w.tree(ne.Uint64(el[8:]), depth+1); err != nil {
				return err
			}
		}
		return nil
	case leafPageFlag:
		base := int64(id) * w.ps
		return w.leaf(head, id, span, count, depth, func(off, n int64) ([]byte, error) { return w.read(base+off, n) })
	default:
		return walkErr("page %d is neither a branch nor a leaf (flags %#x)", id, ne.Uint16(head[8:]))
	}
}

// leaf checks the elements of a leaf page (span bytes long; head holds at
// least its element table; value reads n bytes at off from its start) and
// the buckets they hold.
func (w *fileWalker) leaf(head []byte, id uint64, span, count int64, depth int, value func(off, n int64) ([]byte, error)) error {
	ne := binary.NativeEndian
	for i := range count {
		at := pageHeaderSize + i*pageElementSize
		el := head[at:]
		pos, ksize, vsize := int64(ne.Uint32(el[4:])), int64(ne.Uint32(el[8:])), int64(ne.Uint32(el[12:]))
		if err := w.fits(id, i, span, pos, ksize, vsize); err != nil {
			return err
		}
		if ne.Uint32(el[0:])&bucketLeafFlag == 0 {
			continue
		}
		// A bucket: its header, then (root page 0) an inline leaf page.
		if vsize < bucketHeaderSize {
			return walkErr("page %d element %d: a bucket value of %d bytes", id, i, vsize)
		}
		v, err := value(at+pos+ksize, vsize)
		if err != nil {
			return err
		}
		if int64(len(v)) < vsize {
			return walkErr("page %d element %d past the end of the file", id, i)
		}
		if root := ne.Uint64(v); root != 0 {
			if err := w.tree(root, depth+1); err != nil {
				return err
			}
			continue
		}
		if err := w.inline(v[bucketHeaderSize:], id, depth); err != nil {
			return err
		}
	}
	return nil
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
	return w.leaf(p, id, int64(len(p)), count, depth+1, func(off, n int64) ([]byte, error) {
		if off+n > int64(len(p)) {
			return nil, walkErr("page %d: an inline bucket's value past its end", id)
		}
		return p[off : off+n], nil
	})
}

// fits checks that element i of page id, pos bytes from the element, with
// a key and value of ksize and vsize bytes, lies within the page's span.
func (w *fileWalker) fits(id uint64, i, span, pos, ksize, vsize int64) error {
	if end := pageHeaderSize + i*pageElementSize + pos + ksize + vsize; end > span {
		return walkErr("page %d element %d ends at byte %d of a %d-byte page", id, i, end, span)
	}
	return nil
}
