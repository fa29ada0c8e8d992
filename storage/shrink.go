package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A bbolt file never gives pages back: eviction frees pages for later
// writes, but the file keeps its high-water size. So a file that grew
// under a larger budget than the one it is opened with (an operator who
// lowered cache.disk to get disk space back) would stay at its old size
// for good. shrink, run by Open before anything else uses the file, evicts
// down to the new budget and copies what is left into a new, compact file
// that replaces the old one. The copy needs disk space for what is kept
// (at most the budget) and time in proportion to it; a node whose file is
// within its budget pays nothing but a stat.

// shrinkSlack is how far, as a fraction of the budget, the file may exceed
// what the budget leaves bbolt before Open compacts it: eviction keeps the
// file near the budget (plus at most one growth step, growStep) while it
// runs, so only a file that outgrew another budget is this far over.
const shrinkSlack = 8 // budget/8

// compactSuffix names the copy being written; one left by a crash during
// a compaction is removed by the next.
const compactSuffix = ".compact"

// compactTxBytes bounds the bytes copied per transaction of the copy, so
// it never holds the whole file's dirty pages in memory at once.
const compactTxBytes = 64 << 20

// shrink compacts the file when it is over the budget by more than the
// slack (see above). A failure to compact (no disk space for the copy,
// damage met while copying) is logged and leaves the old file in use:
// the store works as before, only larger than its budget.
func (d *disk) shrink() error {
	tmp := d.path + compactSuffix
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove a partial compaction: %w", err)
	}
	if d.limit < minPagedBudget {
		return nil // budgets this small count stored bytes, not pages (logicalLimit)
	}
	size, err := fileSize(d.path)
	if err != nil {
		return err
	}
	if size <= d.limit-d.fileBytes.Load()+d.limit/shrinkSlack {
		return nil
	}
	start := time.Now()
	// What is kept is counted in stored bytes, since the copy has none of
	// the old file's free pages: as much as eviction leaves below the share
	// of the budget that pages in use start with (evict).
	keep := d.limit / 1000 * startShare / 10 * 9
	for {
		evicted := d.evictions.Load()
		err := d.update(func(t *txn) error {
			return t.evictWhile(func() bool { return t.bytes+t.fileBytes > keep })
		})
		if err != nil {
			return fmt.Errorf("evict down to the budget: %w", err)
		}
		if d.evictions.Load() == evicted {
			break
		}
	}
	if err := d.compact(tmp); err != nil {
		_ = os.Remove(tmp)
		if d.db.Load() == nil {
			return err // neither file could be opened again
		}
		d.log.Warn("storage: could not compact the store file, which stays larger than cache.disk", "path", d.path, "size", size, "budget", d.limit, "err", err)
		return nil
	}
	after, _ := fileSize(d.path)
	d.log.Info("storage: compacted the store file down to its budget", "path", d.path, "from", size, "to", after, "budget", d.limit, "evicted", d.evictions.Load(), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// compact copies the current file into tmp, replaces the file with it and
// opens it in its place. Nothing else may use the store meanwhile.
func (d *disk) compact(tmp string) error {
	src := d.db.Load()
	if src == nil {
		return errNoDisk
	}
	// The copy's own commits write their freelist, so the reopened file
	// needs no page walk to rebuild one.
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: lockTimeout, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	dst.AllocSize = growStep(d.limit) // bbolt's default grows the copy in 16 MiB steps
	if err := guard(func() error { return bolt.Compact(dst, src, compactTxBytes) }); err != nil {
		_ = dst.Close()
		return fmt.Errorf("copy into %s: %w", tmp, err)
	}
	if err := dst.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	d.db.Store(nil)
	if err := closeDB(src); err != nil {
		return fmt.Errorf("close the old file: %w", err)
	}
	renameErr := os.Rename(tmp, d.path)
	if renameErr == nil {
		renameErr = syncDir(filepath.Dir(d.path))
	}
	// Reopen whichever file is now at the path: the copy, or the old file
	// if the rename failed.
	db, bytes, count, err := openDB(d.path)
	if errors.Is(err, errDamaged) {
		db, bytes, count, err = d.replace(err)
	}
	if err != nil {
		return fmt.Errorf("reopen %s: %w", d.path, err)
	}
	db.AllocSize = growStep(d.limit)
	d.db.Store(db)
	d.bytes.Store(bytes)
	d.count.Store(count)
	if renameErr != nil {
		return fmt.Errorf("replace %s: %w", d.path, renameErr)
	}
	return nil
}

func fileSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
