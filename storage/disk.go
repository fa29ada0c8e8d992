package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Bucket and meta key names of the disk layout (see the package doc).
var (
	bucketEntries = []byte("entries")
	bucketLRU     = []byte("lru")
	bucketSeq     = []byte("seq")
	bucketMeta    = []byte("meta")
	metaBytes     = []byte("bytes")
	metaCount     = []byte("count")
)

// evictChunk bounds how many rows one eviction or prefix-deletion step holds
// in memory at once.
const evictChunk = 1024

// disk is the bbolt tier. Its methods that write must be serialized by the
// caller (Store.diskMu); reads may run concurrently with anything.
type disk struct {
	db    *bolt.DB
	limit int64 // budget of rowCost bytes; eviction keeps the total under it

	// Totals as of the last committed write, mirrored from the meta bucket
	// for Stats; only written after a commit, by the serialized writer.
	bytes, count atomic.Int64
	evictions    atomic.Uint64
}

// rowCost is what one entry adds to the disk total: its value and its key in
// the entries, lru and seq buckets plus their 8-byte sequences. bbolt pages
// and free space make the file larger than this total.
func rowCost(keyLen, valLen int) int64 {
	return int64(3*keyLen + valLen + 16)
}

// openDisk opens (creating if needed) the bbolt file at path. It reads the
// totals from the meta bucket rather than scanning the entries.
func openDisk(path string, limit int64) (*disk, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      time.Second, // another process holds the file lock
		FreelistType: bolt.FreelistMapType,
		// Commits skip writing the freelist (it grows with the file's free
		// pages). An Open that finds no synced freelist rebuilds it by
		// walking every page (measured: 250 ms at 300k entries of 1 KiB), so
		// close writes it once; only an Open after a crash pays the walk.
		NoFreelistSync: true,
		// Default fsync on commit: crash safety over speed; writes are
		// asynchronous to requests anyway.
	})
	if err != nil {
		return nil, err
	}
	d := &disk{db: db, limit: limit}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketEntries, bucketLRU, bucketSeq, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		t := newTxn(tx)
		d.bytes.Store(t.bytes)
		d.count.Store(t.count)
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return d, nil
}

// close syncs the freelist (see openDisk) and closes the file. No other
// transaction may run.
func (d *disk) close() error {
	d.db.NoFreelistSync = false
	syncErr := d.db.Update(func(*bolt.Tx) error { return nil })
	if err := d.db.Close(); err != nil {
		return err
	}
	if syncErr != nil {
		return fmt.Errorf("sync freelist: %w", syncErr)
	}
	return nil
}

// get returns the decoded entry stored under key. On damage it returns an
// error wrapping ErrCorrupt and a copy of the damaged bytes (so the caller
// can drop exactly them); a missing key is ErrNotFound.
func (d *disk) get(key string) (*Entry, []byte, error) {
	var (
		e   *Entry
		raw []byte
	)
	err := d.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketEntries).Get([]byte(key))
		if v == nil {
			return ErrNotFound
		}
		var err error
		e, err = Decode(v)
		if err == nil && e.Key != key {
			err = corruptf("stored under %q but names %q", key, e.Key)
		}
		if err != nil {
			raw = bytes.Clone(v)
		}
		return err
	})
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		err = ErrClosed
	}
	return e, raw, err
}

// batch is one write transaction's worth of queued work.
type batch struct {
	sets    []pendingSet
	touches []string
}

// pendingSet is one entry taken from the pending map, encoded for the disk.
type pendingSet struct {
	e   *Entry
	val []byte
}

// apply writes a batch in one transaction, then evicts least recently used
// entries if the total exceeds the budget.
func (d *disk) apply(b *batch) error {
	return d.update(func(t *txn) error {
		for _, s := range b.sets {
			if err := t.put([]byte(s.e.Key), s.val); err != nil {
				return err
			}
		}
		for _, k := range b.touches {
			if err := t.touch([]byte(k)); err != nil {
				return err
			}
		}
		return t.evict(d.limit)
	})
}

// deleteKeys removes keys and returns those that were present.
func (d *disk) deleteKeys(keys []string) ([]string, error) {
	var removed []string
	err := d.update(func(t *txn) error {
		removed = removed[:0]
		for _, k := range keys {
			ok, err := t.remove([]byte(k))
			if err != nil {
				return err
			}
			if ok {
				removed = append(removed, k)
			}
		}
		return nil
	})
	return removed, err
}

// deletePrefix removes every key with the byte prefix, walking the ordered
// entries bucket from the prefix, one transaction per evictChunk keys.
func (d *disk) deletePrefix(prefix string) ([]string, error) {
	var removed []string
	for {
		var chunk []string
		err := d.update(func(t *txn) error {
			chunk = chunk[:0]
			c := t.entries.Cursor()
			p := []byte(prefix)
			for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p) && len(chunk) < evictChunk; k, _ = c.Next() {
				chunk = append(chunk, string(k))
			}
			for _, k := range chunk {
				if _, err := t.remove([]byte(k)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return removed, err
		}
		removed = append(removed, chunk...)
		if len(chunk) < evictChunk {
			return removed, nil
		}
	}
}

// dropIfEqual removes key if its stored value still equals raw: a damaged
// record is dropped, but not a good one written since it was read.
func (d *disk) dropIfEqual(key string, raw []byte) error {
	return d.update(func(t *txn) error {
		k := []byte(key)
		if !bytes.Equal(t.entries.Get(k), raw) {
			return nil
		}
		_, err := t.remove(k)
		return err
	})
}

// update runs fn in a write transaction that loads and saves the totals,
// and publishes them once committed.
func (d *disk) update(fn func(t *txn) error) error {
	var t *txn
	err := d.db.Update(func(tx *bolt.Tx) error {
		t = newTxn(tx)
		if err := fn(t); err != nil {
			return err
		}
		return t.saveMeta()
	})
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	if err != nil {
		return err
	}
	d.bytes.Store(t.bytes)
	d.count.Store(t.count)
	d.evictions.Add(t.evicted)
	return nil
}

// txn is one write transaction over the four buckets, with running totals.
type txn struct {
	entries, lru, seq, meta *bolt.Bucket
	bytes, count            int64
	evicted                 uint64
}

func newTxn(tx *bolt.Tx) *txn {
	t := &txn{
		entries: tx.Bucket(bucketEntries),
		lru:     tx.Bucket(bucketLRU),
		seq:     tx.Bucket(bucketSeq),
		meta:    tx.Bucket(bucketMeta),
	}
	t.bytes = int64(getUint64(t.meta.Get(metaBytes)))
	t.count = int64(getUint64(t.meta.Get(metaCount)))
	return t
}

func (t *txn) saveMeta() error {
	if err := t.meta.Put(metaBytes, binary.BigEndian.AppendUint64(nil, uint64(t.bytes))); err != nil {
		return err
	}
	return t.meta.Put(metaCount, binary.BigEndian.AppendUint64(nil, uint64(t.count)))
}

// put stores val under k, replacing any older value, as the most recently
// used entry.
func (t *txn) put(k, val []byte) error {
	if old := t.entries.Get(k); old != nil {
		t.bytes -= rowCost(len(k), len(old))
		t.count--
		if err := t.unlink(k); err != nil {
			return err
		}
	}
	if err := t.entries.Put(k, val); err != nil {
		return err
	}
	t.bytes += rowCost(len(k), len(val))
	t.count++
	return t.link(k)
}

// touch makes k the most recently used entry, if it is stored.
func (t *txn) touch(k []byte) error {
	if t.seq.Get(k) == nil {
		return nil
	}
	if err := t.unlink(k); err != nil {
		return err
	}
	return t.link(k)
}

// remove deletes k and its LRU rows; it reports whether k was stored.
func (t *txn) remove(k []byte) (bool, error) {
	old := t.entries.Get(k)
	if old == nil {
		return false, nil
	}
	t.bytes -= rowCost(len(k), len(old))
	t.count--
	if err := t.entries.Delete(k); err != nil {
		return false, err
	}
	return true, t.unlink(k)
}

// link gives k the next LRU sequence.
func (t *txn) link(k []byte) error {
	n, err := t.lru.NextSequence()
	if err != nil {
		return err
	}
	if err := t.lru.Put(lruKey(n, k), nil); err != nil {
		return err
	}
	return t.seq.Put(k, binary.BigEndian.AppendUint64(nil, n))
}

// unlink removes k's LRU rows.
func (t *txn) unlink(k []byte) error {
	s := t.seq.Get(k)
	if len(s) != 8 {
		return t.seq.Delete(k)
	}
	if err := t.lru.Delete(lruKey(binary.BigEndian.Uint64(s), k)); err != nil {
		return err
	}
	return t.seq.Delete(k)
}

// evict deletes least recently used entries while the total exceeds limit,
// down to 90% of it, so that eviction runs in bursts rather than per write.
func (t *txn) evict(limit int64) error {
	if t.bytes <= limit {
		return nil
	}
	target := limit / 10 * 9
	for t.bytes > target {
		var rows [][]byte
		c := t.lru.Cursor()
		for k, _ := c.First(); k != nil && len(rows) < evictChunk; k, _ = c.Next() {
			rows = append(rows, bytes.Clone(k))
		}
		if len(rows) == 0 {
			return nil
		}
		for _, row := range rows {
			if t.bytes <= target {
				return nil
			}
			if err := t.evictRow(row); err != nil {
				return err
			}
		}
	}
	return nil
}

// evictRow removes the entry an lru row names (or the row alone if it is an
// orphan, so eviction always makes progress).
func (t *txn) evictRow(row []byte) error {
	if len(row) < 8 {
		return t.lru.Delete(row)
	}
	ok, err := t.remove(row[8:])
	if err != nil {
		return err
	}
	if !ok {
		return t.lru.Delete(row)
	}
	t.evicted++
	return nil
}

func lruKey(n uint64, k []byte) []byte {
	b := make([]byte, 8, 8+len(k))
	binary.BigEndian.PutUint64(b, n)
	return append(b, k...)
}

func getUint64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}
