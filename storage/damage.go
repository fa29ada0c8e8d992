package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// A cache never dies for its cache file (docs/design.md): a damaged
// edged.db is set aside and the store goes on with an empty one, since
// refetching is always correct for a cache.
//
// bbolt trusts its file. On a damaged one it panics (page assertions,
// impossible lengths) or reads through its mmap past the end of a truncated
// file (a fault, fatal to the process unless the goroutine asked for a
// panic with debug.SetPanicOnFault). Every bbolt call of the store runs
// under guard, in the calling goroutine, which turns both into a
// *damageError.
//
// bbolt runs code in goroutines of its own, where no recover reaches, in
// two places: tx.Check, which the store does not call, and the rebuild of
// the freelist by walking the file when the file holds none (commits skip
// writing it, NoFreelistSync, since writing it costs a write of every free
// page id per commit: measured 23 ms against 2 ms per commit at 60k free
// pages; close writes it). That rebuild runs at Open after a crash, which
// checkFile precedes with walkFile (walk.go), and at the rollback of every
// write transaction. So a write transaction that panics is never rolled
// back (updateTx): its file is set aside anyway, its write lock is simply
// never released. checkFile also reads the meta pages itself before bbolt
// opens the file, for truncation, which would make bbolt read past its end.

// errDamaged is wrapped by every *damageError.
var errDamaged = errors.New("storage: damaged store file")

// damageError is a bbolt panic (or fault) on a damaged file, or a defect
// that checkFile found.
type damageError struct {
	cause any
	stack []byte // where a panic happened, for the log
}

func (e *damageError) Error() string { return fmt.Sprintf("damaged store file: %v", e.cause) }
func (e *damageError) Unwrap() error { return errDamaged }

// updateTx is bolt.DB.Update, except that a transaction that panics is
// not rolled back: without a synced freelist, the rollback walks the file
// in a goroutine of bbolt's own (see above), and on the damaged file that
// made it panic the walk would panic too, fatally. The transaction keeps
// its file's write lock; the caller sets the file aside.
func updateTx(db *bolt.DB, fn func(*bolt.Tx) error) error {
	tx, err := db.Begin(true)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		if errors.Is(err, errDamaged) {
			return err // no rollback either: see above
		}
		if errors.Is(err, bolterrors.ErrIncompatibleValue) {
			// A key where a bucket should be, or the reverse: damage.
			return &damageError{cause: err}
		}
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// guard runs fn and turns a panic in it, or a memory fault reading bbolt's
// mmap (made a panic on this goroutine for the call's duration), into a
// *damageError. A read transaction releases its locks in a deferred
// rollback before the panic reaches guard; a write transaction keeps its
// lock (updateTx); either way a file that panicked is never used again
// (disk.setAside).
func guard(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = &damageError{cause: r, stack: debug.Stack()}
		}
	}()
	return fn()
}

// ErrLocked: another process holds the store's file (bbolt's exclusive
// file lock), most likely a second edged on the same data directory.
var ErrLocked = errors.New("storage: store file locked by another process")

// lockTimeout is how long Open waits for another process's lock on the
// file before it gives up with ErrLocked.
const lockTimeout = time.Second

// openDB opens (creating if needed) the bbolt file at path, makes sure the
// buckets exist and returns the running totals. A damaged file gives an
// error wrapping errDamaged; a file held by another process one wrapping
// ErrLocked; anything else (permissions, a full disk) is returned as is.
func openDB(path string) (db *bolt.DB, bytes, count int64, err error) {
	err = guard(func() error {
		var err error
		db, err = bolt.Open(path, 0o600, &bolt.Options{
			Timeout:      lockTimeout,
			FreelistType: bolt.FreelistMapType,
			// Commits skip writing the freelist (it grows with the file's
			// free pages). An Open that finds no synced freelist rebuilds
			// it by walking every page (measured: 250 ms at 300k entries of
			// 1 KiB), so close writes it once; only an Open after a crash
			// pays the walk (and walkFile's before it).
			NoFreelistSync: true,
			// Default fsync on commit: crash safety over speed; writes are
			// asynchronous to requests anyway.
		})
		return err
	})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, 0, 0, ErrLocked
	case errors.Is(err, errDamaged):
		return nil, 0, 0, err
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrVersionMismatch),
		errors.Is(err, bolterrors.ErrChecksum), errors.Is(err, bolterrors.ErrInvalidMapping):
		return nil, 0, 0, &damageError{cause: err}
	case err != nil:
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, 0, 0, err // the file system's answer, not the file's content
		}
		return nil, 0, 0, &damageError{cause: err} // bbolt found the file unusable
	}
	err = guard(func() error {
		return updateTx(db, func(tx *bolt.Tx) error {
			for _, name := range [][]byte{bucketEntries, bucketLRU, bucketSeq, bucketMeta, bucketTags, bucketFiles} {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return &damageError{cause: fmt.Errorf("create bucket %s: %w", name, err)}
				}
			}
			t := newTxn(tx)
			bytes, count = t.bytes, t.count
			return nil
		})
	})
	if err != nil {
		if !errors.Is(err, errDamaged) {
			_ = guard(db.Close)
			return nil, 0, 0, err
		}
		closeAside(db)
		return nil, 0, 0, err
	}
	return db, bytes, count, nil
}

// closeAside closes a file that panicked, in the background: a write
// transaction that panicked keeps the file's write lock (updateTx), and
// then Close never returns. The file descriptor, its mapping and the
// goroutine are leaked in that case (once per damaged file).
func closeAside(db *bolt.DB) {
	go func() { _ = guard(db.Close) }()
}

// bbolt's file format (go.etcd.io/bbolt/internal/common), read by
// checkFile: a page starts with a 16-byte header (id u64, flags u16, count
// u16, overflow u32); pages 0 and 1 are meta pages, whose body is magic,
// version, page size, flags (u32 each), the root bucket (root page u64,
// sequence u64), the freelist page, the high water mark (pages in use),
// the transaction id and an FNV-64a checksum of the fields before it (u64
// each), in the machine's byte order.
const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	pageHeaderSize   = 16
	metaChecksumAt   = 56 // offset of the checksum in the meta body
	metaSize         = 64
	freelistPageFlag = 0x10
	noFreelist       = ^uint64(0)
)

type boltMeta struct {
	pageSize                      uint32
	rootPage, freelist, hwm, txid uint64
	valid                         bool
	invalidWhy                    string
}

// readMeta parses the meta page at the start of b.
func readMeta(b []byte) boltMeta {
	if len(b) < pageHeaderSize+metaSize {
		return boltMeta{invalidWhy: "short meta page"}
	}
	m := b[pageHeaderSize : pageHeaderSize+metaSize]
	ne := binary.NativeEndian
	meta := boltMeta{
		pageSize: ne.Uint32(m[8:]),
		rootPage: ne.Uint64(m[16:]),
		freelist: ne.Uint64(m[32:]),
		hwm:      ne.Uint64(m[40:]),
		txid:     ne.Uint64(m[48:]),
	}
	h := fnv.New64a()
	h.Write(m[:metaChecksumAt])
	switch {
	case ne.Uint32(m[0:]) != boltMagic:
		meta.invalidWhy = "bad magic"
	case ne.Uint32(m[4:]) != boltVersion:
		meta.invalidWhy = "unknown version"
	case h.Sum64() != ne.Uint64(m[metaChecksumAt:]):
		meta.invalidWhy = "checksum mismatch"
	case meta.pageSize < 1024 || meta.pageSize&(meta.pageSize-1) != 0:
		meta.invalidWhy = "impossible page size"
	default:
		meta.valid = true
	}
	return meta
}

// checkLocked runs checkFile holding the file's lock, so that it never
// reads (nor sets aside) a file that another process is writing: a second
// edged on the same data directory gets ErrLocked instead. The lock is
// released for bbolt to take it; a damaged file is set aside first.
func (d *disk) checkLocked() error {
	unlock, err := lockFile(d.path, lockTimeout)
	if err != nil {
		return err
	}
	defer unlock()
	return guard(func() error { return checkFile(d.path) })
}

// checkFile reads the meta pages of the bbolt file at path (a missing or
// empty file passes: bbolt creates it) and returns a *damageError for what
// would make bbolt fault or rebuild its freelist in an unguarded goroutine:
// no valid meta page, a file shorter than the pages its meta page counts,
// a freelist page that is not one or names pages outside the file, or,
// after a crash (no synced freelist), what walkFile finds. After a clean
// shutdown it reads a few pages.
func checkFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if size == 0 {
		return nil
	}
	read := func(off, n int64) ([]byte, error) {
		b := make([]byte, n)
		got, err := f.ReadAt(b, off)
		if errors.Is(err, io.EOF) {
			err = nil
		}
		return b[:got], err
	}
	if data, unmap, err := mapFile(f, size); err == nil {
		// Read through a mapping of the file: no copy, no system call per
		// page. Every offset is checked against the size; a file that
		// shrinks meanwhile (we hold its lock) faults, which guard in
		// checkLocked turns into damage.
		defer unmap()
		read = func(off, n int64) ([]byte, error) {
			if off < 0 || off >= int64(len(data)) {
				return nil, nil
			}
			return data[off:min(off+n, int64(len(data)))], nil
		}
	}
	first, err := read(0, pageHeaderSize+metaSize)
	if err != nil {
		return err
	}
	m0 := readMeta(first)
	pageSize := int64(os.Getpagesize())
	if m0.valid {
		pageSize = int64(m0.pageSize)
	}
	second, err := read(pageSize, pageHeaderSize+metaSize)
	if err != nil {
		return err
	}
	m1 := readMeta(second)
	// bbolt uses the meta page with the larger transaction id if valid,
	// else the other one.
	m := m0
	if m1.txid > m0.txid && m1.valid || !m0.valid {
		m = m1
		if m1.valid && int64(m1.pageSize) != pageSize {
			return &damageError{cause: errors.New("meta page 1 is not where its page size puts it")}
		}
	}
	if !m.valid {
		return &damageError{cause: fmt.Errorf("no valid meta page (page 0: %s, page 1: %s)", m0.invalidWhy, m1.invalidWhy)}
	}
	ps := int64(m.pageSize)
	if m.hwm < 2 || m.hwm > uint64(size)/uint64(ps) {
		return &damageError{cause: fmt.Errorf("truncated: %d bytes, but its meta page counts %d pages of %d bytes", size, m.hwm, ps)}
	}
	if m.rootPage < 2 || m.rootPage >= m.hwm {
		return &damageError{cause: fmt.Errorf("root page %d outside the file's %d pages", m.rootPage, m.hwm)}
	}
	if m.freelist == noFreelist {
		return walkFile(read, m)
	}
	return checkFreelist(read, m, ps)
}

// checkFreelist checks that the freelist page is one and that the pages it
// frees are inside the file (bbolt would hand them out for writing).
func checkFreelist(read func(off, n int64) ([]byte, error), m boltMeta, ps int64) error {
	if m.freelist < 2 || m.freelist >= m.hwm {
		return &damageError{cause: fmt.Errorf("freelist page %d outside the file's %d pages", m.freelist, m.hwm)}
	}
	hdr, err := read(int64(m.freelist)*ps, ps)
	if err != nil {
		return err
	}
	ne := binary.NativeEndian
	if len(hdr) < pageHeaderSize || ne.Uint64(hdr) != m.freelist || ne.Uint16(hdr[8:])&freelistPageFlag == 0 {
		return &damageError{cause: fmt.Errorf("page %d is not the freelist its meta page names", m.freelist)}
	}
	count, overflow := uint64(ne.Uint16(hdr[10:])), uint64(ne.Uint32(hdr[12:]))
	if m.freelist+overflow >= m.hwm {
		return &damageError{cause: fmt.Errorf("freelist page %d runs past the file's %d pages", m.freelist, m.hwm)}
	}
	body, err := read(int64(m.freelist)*ps, int64(overflow+1)*ps)
	if err != nil {
		return err
	}
	ids := body[pageHeaderSize:]
	if count == 0xFFFF { // the real count is the first element
		if len(ids) < 8 {
			return &damageError{cause: errors.New("freelist page too short")}
		}
		count, ids = ne.Uint64(ids), ids[8:]
	}
	if count > uint64(len(ids)/8) {
		return &damageError{cause: fmt.Errorf("freelist counts %d pages, its page holds %d", count, len(ids)/8)}
	}
	for i := range count {
		if id := ne.Uint64(ids[i*8:]); id < 2 || id >= m.hwm {
			return &damageError{cause: fmt.Errorf("freelist frees page %d, outside the file's %d pages", id, m.hwm)}
		}
	}
	return nil
}

// moveAside renames the file at path to path.damaged-<UTC time> and
// removes the ones set aside before (one is kept, for a post-mortem; each
// may be as large as the disk budget). It returns the new name.
func moveAside(path string, now time.Time) (string, error) {
	old, _ := filepath.Glob(path + ".damaged-*")
	for _, o := range old {
		_ = os.Remove(o)
	}
	aside := path + ".damaged-" + now.UTC().Format("20060102T150405.000000000Z")
	if err := os.Rename(path, aside); err != nil {
		return "", fmt.Errorf("set damaged store file aside: %w", err)
	}
	return aside, nil
}

// errNoDisk: a damaged file could not be replaced (see setAside); the
// store goes on without its disk tier.
var errNoDisk = errors.New("storage: disk tier unavailable since its damaged file could not be replaced")

// view runs fn in a read transaction on the current file (see run).
func (d *disk) view(fn func(tx *bolt.Tx) error) error {
	_, err := d.run(func(db *bolt.DB) error { return db.View(fn) })
	return err
}

// run runs op on the current file under guard and returns the file it ran
// on. If op finds the file damaged, run sets it aside and runs op once more
// on the fresh file that replaces it; so does an op that found the file
// closed because another goroutine set it aside meanwhile. op must be
// repeatable (a transaction is).
func (d *disk) run(op func(db *bolt.DB) error) (*bolt.DB, error) {
	for try := 0; ; try++ {
		db := d.db.Load()
		if db == nil {
			return nil, errNoDisk
		}
		err := guard(func() error { return op(db) })
		switch {
		case errors.Is(err, errDamaged):
			d.setAside(db, err)
		case errors.Is(err, bolterrors.ErrDatabaseNotOpen) && d.db.Load() != db:
			err = &damageError{cause: "file set aside during the operation"}
		default:
			return db, err
		}
		if try > 0 {
			return db, err
		}
	}
}

// setAside replaces db, found damaged by cause, by a fresh empty file,
// unless it was replaced already. Transactions still running on db finish
// on it (the renamed file) or fail; their writes are lost with it, which a
// cache can afford. db is closed once they are done.
func (d *disk) setAside(db *bolt.DB, cause error) {
	d.reset.Lock()
	defer d.reset.Unlock()
	if d.db.Load() != db {
		return
	}
	fresh, bytes, count, err := d.replace(cause)
	closeAside(db)
	if err != nil {
		d.db.Store(nil)
		d.log.Error("storage: damaged store file could not be replaced; continuing without the disk tier", "path", d.path, "err", err)
		return
	}
	fresh.AllocSize = growStep(d.limit)
	d.db.Store(fresh)
	d.bytes.Store(bytes)
	d.count.Store(count)
	d.fileBytes.Store(0) // a fresh file names no body file: the sweep at the next Open removes them
}

// replace moves the damaged file aside (logged, counted) and opens a fresh
// one in its place.
func (d *disk) replace(cause error) (*bolt.DB, int64, int64, error) {
	d.setAsides.Add(1)
	aside, err := moveAside(d.path, time.Now())
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%w (damage: %w)", err, cause)
	}
	args := []any{"path", d.path, "moved_to", aside, "reason", cause}
	var de *damageError
	if errors.As(cause, &de) && de.stack != nil {
		args = append(args, "stack", string(de.stack))
	}
	d.log.Error("storage: damaged store file set aside; continuing with an empty one (entries are refetched)", args...)
	db, bytes, count, err := openDB(d.path)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("open a fresh store file: %w", err)
	}
	return db, bytes, count, nil
}
