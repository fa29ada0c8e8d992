package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
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
	bucketTags    = []byte("tags")
	// bucketFiles: body file id (8 bytes BE) -> the key whose record owns
	// it, so that the sweep finds orphan files without decoding values.
	bucketFiles = []byte("files")
	metaBytes   = []byte("bytes")
	metaCount   = []byte("count")
	// metaStaleBelow: entries whose rowInfo.write is at most this value are
	// stale (a soft purge of everything); absent or 0: none.
	metaStaleBelow = []byte("stale_below")
	// metaStaleBelowAt: when the soft purge that set stale_below was
	// applied, Unix nanoseconds (the StaleAt of the entries it covers).
	metaStaleBelowAt = []byte("stale_below_at")
	// metaStaleBelowUntimed: like stale_below, for a soft purge of
	// everything that gives no time (Purge.NoStale): the entries it covers
	// are never served stale.
	metaStaleBelowUntimed = []byte("stale_below_untimed")
	// metaPurgeSeq: the Seq of the last applied Purge.
	metaPurgeSeq = []byte("purge_seq")
	// metaPurgeStream: the Stream of the last Purge that named one, the
	// purge stream purge_seq counts in.
	metaPurgeStream = []byte("purge_stream")
	// metaFileBytes: the total size of the body files records name.
	metaFileBytes = []byte("file_bytes")
)

// evictChunk bounds how many rows one eviction or prefix-deletion step holds
// in memory at once.
const evictChunk = 1024

// disk is the bbolt tier. Its methods that write must be serialized by the
// caller (writer.txMu); reads may run concurrently with anything.
type disk struct {
	// db is the open file; a damaged one is replaced by a fresh one
	// (setAside, damage.go), so every use loads it anew (view, run).
	// nil once a damaged file could not be replaced: the tier is gone.
	db    atomic.Pointer[bolt.DB]
	path  string
	log   *slog.Logger
	reset sync.Mutex // serializes setAside
	// setAsides counts damaged files set aside (at open and at runtime).
	setAsides atomic.Uint64

	limit int64 // budget of rowCost bytes; eviction keeps the total under it
	// purgeChunk is how many keys one purge transaction handles.
	purgeChunk int

	// files holds the bodies too large for bbolt; nil: every body is in
	// bbolt.
	files *bodyFiles
	// decoded remembers the entries Gets decoded (decoded.go).
	decoded *decodedRecords
	// absent proves keys are not on disk without reading it (absent.go).
	absent *absentKeys
	// marks are the soft purge markers as of the last commit.
	marks atomic.Pointer[staleMarks]

	// Totals as of the last committed write, mirrored from the meta bucket
	// for Stats; only written after a commit, by the serialized writer.
	// bytes counts bbolt's rows, fileBytes the body files.
	bytes, count, fileBytes atomic.Int64
	evictions               atomic.Uint64
	// failures counts failed disk operations (report).
	failures atomic.Uint64
	// room is the stored total the budget allowed at the last eviction
	// check (txn.logicalLimit), for apply to see whether a batch fits.
	room atomic.Int64
	// share is the part of the budget, in thousandths, that pages in use
	// may fill; the rest is free pages the file needs so that writes find
	// room without growing it (see fileGrew). file is the file's size at
	// the last write. Both are the writer's alone.
	share, file int64

	// writeFault, when set (by tests only), is called at the end of every
	// write transaction of update; an error it returns fails the
	// transaction as a failing disk would (bbolt rolls it back), so tests
	// can simulate a full or unwritable disk at runtime and clear it again.
	writeFault atomic.Pointer[func() error]
}

// report counts and logs a failed disk operation; a closed store is not
// a failure.
func (d *disk) report(what string, err error) {
	if errors.Is(err, ErrClosed) {
		return
	}
	d.failures.Add(1)
	if errors.Is(err, errNoDisk) {
		return // logged once, when the disk tier was lost
	}
	d.log.Error("storage: disk error", "op", what, "err", err)
}

// rowCost is what one entry adds to the disk total: its value and its key in
// the entries, lru and seq buckets plus their 8-byte sequences. bbolt pages
// and free space make the file larger than this total.
func rowCost(keyLen, valLen int) int64 {
	return int64(3*keyLen + valLen + 16)
}

// diskCost is what storing e adds to the disk total: rowCost plus its
// rowInfo and tag rows.
func diskCost(e *Entry) int64 {
	tags, _ := encodeTags(e.Key, e.Tags)
	return rowCost(len(e.Key), len(Encode(e))) + infoCost(len(e.Key), rowInfo{tags: tags}.encode(), tags)
}

// openDisk opens (creating if needed) the bbolt file at path. It reads the
// totals from the meta bucket rather than scanning the entries. A damaged
// file is set aside and replaced by an empty one (damage.go).
func openDisk(path string, limit int64, log *slog.Logger) (*disk, error) {
	d := &disk{path: path, log: log, limit: limit, purgeChunk: defaultPurgeChunk, share: startShare, decoded: newDecodedRecords(), absent: newAbsentKeys()}
	var (
		db           *bolt.DB
		bytes, count int64
	)
	err := d.checkLocked()
	if err == nil {
		db, bytes, count, err = openDB(path)
	}
	if errors.Is(err, errDamaged) {
		db, bytes, count, err = d.replace(err)
	}
	if err != nil {
		return nil, err
	}
	db.AllocSize = growStep(limit)
	d.db.Store(db)
	d.bytes.Store(bytes)
	d.count.Store(count)
	err = d.view(func(tx *bolt.Tx) error {
		d.fileBytes.Store(int64(getUint64(tx.Bucket(bucketMeta).Get(metaFileBytes))))
		d.marks.Store(readMarks(tx))
		return nil
	})
	if err != nil {
		_ = d.close()
		return nil, fmt.Errorf("read body file total: %w", err)
	}
	return d, nil
}

// close syncs the freelist (see openDB) and closes the file. No other
// transaction may run.
func (d *disk) close() error {
	d.absent.close()
	db := d.db.Load()
	if db == nil {
		return nil
	}
	if d.files != nil {
		d.files.fds.close()
	}
	return closeDB(db)
}

// closeDB writes db's freelist, so that the next Open need not walk the
// file to rebuild it (see openDB), and closes it.
func closeDB(db *bolt.DB) error {
	db.NoFreelistSync = false
	syncErr := guard(func() error { return updateTx(db, func(*bolt.Tx) error { return nil }) })
	if err := guard(db.Close); err != nil {
		return err
	}
	if syncErr != nil {
		return fmt.Errorf("sync freelist: %w", syncErr)
	}
	return nil
}

// get returns the decoded entry stored under key, with Stale set if a soft
// purge marked it (its rowInfo flag or the stale_below marker). On damage it
// returns an error wrapping ErrCorrupt and a copy of the damaged bytes (so
// the caller can drop exactly them); a missing key is ErrNotFound.
func (d *disk) get(key string, admit Admitter) (*Entry, []byte, error) {
	var (
		e   *Entry
		raw []byte
	)
	if d.absent.absent(key) {
		return nil, nil, ErrNotFound // never put since the filter was built
	}
	k := []byte(key)
	err := d.view(func(tx *bolt.Tx) error {
		e, raw = nil, nil
		v := tx.Bucket(bucketEntries).Get(k)
		if v == nil {
			return ErrNotFound
		}
		if admit != nil && !admit.Admit(int64(len(v))) {
			return ErrOverBudget // refused before the copy is made
		}
		if e = d.decoded.get(key, v); e == nil {
			var err error
			if e, err = d.decode(key, v); err != nil {
				e, raw = nil, bytes.Clone(v)
				return err
			}
			d.decoded.put(v, e)
		}
		if stale, at := d.isStale(tx, k); stale {
			e = e.markedStale(at) // a copy: e may be shared (decoded.go)
		}
		return nil
	})
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		err = ErrClosed
	}
	return e, raw, err
}

// decode decodes v, the record stored under key, for this store.
func (d *disk) decode(key string, v []byte) (*Entry, error) {
	e, err := Decode(v)
	if err != nil {
		return nil, err
	}
	if e.Key != key {
		return nil, corruptf("stored under %q but names %q", key, e.Key)
	}
	if e.file != nil {
		if d.files == nil {
			return nil, corruptf("a body file, but body files are off")
		}
		e.file.files = d.files
	}
	return e, nil
}

// batch is one write transaction's worth of queued work.
type batch struct {
	sets    []pendingSet
	touches []string
}

// pendingSet is one entry taken from the pending map, encoded for the disk.
type pendingSet struct {
	e    *Entry
	val  []byte
	tags []byte // encodeTags of e
	// file, when set, is the file that holds e's body (the value encodes
	// a reference to it); made for this write when made is set, so that a
	// failed transaction removes it.
	file *fileRef
	made bool
	// stored is the entry as encoded: e, or e's copy that names file.
	stored *Entry
}

// isStale reports whether a soft purge marked the stored key stale, and
// since when (zero if the mark has no time): its rowInfo's mark, or a
// soft purge of everything (the markers, as of the last write committed:
// see staleMarks).
func (d *disk) isStale(tx *bolt.Tx, k []byte) (bool, time.Time) {
	m := d.marks.Load()
	if m == nil || m.db != tx.DB() {
		m = readMarks(tx) // a file replaced since: nothing published for it yet
	}
	ri, _ := parseInfo(tx.Bucket(bucketSeq).Get(k))
	stale, at := ri.stale, fromUnixNano(ri.staleAt)
	if m.below != 0 && ri.write <= m.below {
		at = laterStale(stale, at, fromUnixNano(int64(m.belowAt)))
		stale = true
	}
	if m.untimed != 0 && ri.write <= m.untimed {
		stale, at = true, time.Time{}
	}
	return stale, at
}

// staleMarks are the meta bucket's markers of soft purges of everything
// (metaStaleBelow, metaStaleBelowAt, metaStaleBelowUntimed) in the file
// db, kept in memory so that a disk hit need not open the meta bucket (an
// inline bucket, which bbolt copies at every open) and read them there:
// that was a third of a hit's bbolt reads. disk.update publishes them
// after every commit, before it returns (every write of the markers goes
// through it), so a Get that begins after a purge returned reads them;
// one that runs concurrently may read them from before its transaction's
// snapshot, or after it, as it may meet the purge before or after its
// commit (and a hit read before the commit is not promoted to memory: see
// memory.ticket). A file that replaced a damaged one has none until its
// first write: Gets read its meta bucket meanwhile.
type staleMarks struct {
	db                      *bolt.DB
	below, belowAt, untimed uint64
}

// readMarks reads tx's markers.
func readMarks(tx *bolt.Tx) *staleMarks {
	meta := tx.Bucket(bucketMeta)
	return &staleMarks{db: tx.DB(), below: getUint64(meta.Get(metaStaleBelow)),
		belowAt: getUint64(meta.Get(metaStaleBelowAt)), untimed: getUint64(meta.Get(metaStaleBelowUntimed))}
}

// unixNano is t in Unix nanoseconds, 0 for the zero Time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromUnixNano is the inverse of unixNano.
func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// appliedSeq returns the recorded purge sequence and the stream it counts
// in ("" if none was recorded).
func (d *disk) appliedSeq() (seq uint64, stream string, err error) {
	err = d.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		seq = getUint64(meta.Get(metaPurgeSeq))
		stream = string(meta.Get(metaPurgeStream))
		return nil
	})
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		err = ErrClosed
	}
	return seq, stream, err
}

// apply writes a batch in one transaction, then evicts least recently used
// entries if the total exceeds the budget. When the batch would take the
// total past the budget, a transaction of its own evicts first: pages a
// transaction frees can only be reused by later ones, so evicting in the
// same transaction grew the file by a batch beyond the budget each time.
func (d *disk) apply(b *batch) error {
	if len(b.sets) == 0 && len(b.touches) > 0 {
		// Touches alone: a write transaction (and its fsyncs) only for
		// those that move (see touch). Under a steady load of disk hits
		// most are of recent keys.
		moving, err := d.touchesThatMove(b.touches)
		if err != nil || len(moving) == 0 {
			return err
		}
		b.touches = moving
	}
	var incoming, incomingFiles int64
	for _, s := range b.sets {
		incoming += rowCost(len(s.e.Key), len(s.val))
		if s.file != nil {
			incomingFiles += s.file.size
		}
	}
	room := d.room.Load()
	if room == 0 {
		room = d.limit // no eviction check yet
	}
	if d.bytes.Load()+incoming > room-d.fileBytes.Load()-incomingFiles {
		if err := d.update(func(t *txn) error { return t.evict(d.limit, incoming, incomingFiles) }); err != nil {
			return err
		}
	}
	defer d.fileGrew()
	// Between transactions, txMu held: a rebuild of the filter of absent
	// keys may start here (absentKeys.maybeRebuild).
	defer d.absent.maybeRebuild(d)
	return d.update(func(t *txn) error {
		// One buffer for the batch's keys: bbolt copies the keys it puts,
		// and put and touch keep none (an allocation per Set, #17).
		var k []byte
		for _, s := range b.sets {
			k = append(k[:0], s.e.Key...)
			d.absent.add(k) // before the commit that puts it: see absentKeys
			if err := t.put(k, s.val, s.tags, s.file); err != nil {
				return err
			}
		}
		for _, key := range b.touches {
			k = append(k[:0], key...)
			if err := t.touch(k); err != nil {
				return err
			}
		}
		return t.evict(d.limit, 0, 0)
	})
}

// touchesThatMove returns the keys of touches whose touch would move them
// in the LRU order, read in a read-only transaction.
func (d *disk) touchesThatMove(touches []string) ([]string, error) {
	var moving []string
	err := d.view(func(tx *bolt.Tx) error {
		moving = moving[:0]
		t := newTxn(tx)
		for _, k := range touches {
			if t.needsTouch([]byte(k)) {
				moving = append(moving, k)
			}
		}
		return nil
	})
	return moving, closedErr(err)
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
	var (
		t     *txn
		marks *staleMarks
	)
	db, err := d.run(func(db *bolt.DB) error {
		return updateTx(db, func(tx *bolt.Tx) error {
			t = newTxn(tx)
			t.share = d.share
			if err := fn(t); err != nil {
				return err
			}
			if f := d.writeFault.Load(); f != nil {
				if err := (*f)(); err != nil {
					return err
				}
			}
			marks = readMarks(tx)
			return t.saveMeta()
		})
	})
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	if errors.Is(err, errNoDisk) {
		return nil // no file left to change: what fn would remove is gone
	}
	if err != nil {
		return err
	}
	if old := d.marks.Load(); old == nil || *old != *marks {
		d.marks.Store(marks) // for db: ignored by Gets on another file
	}
	if d.db.Load() == db { // not set aside meanwhile: its totals are the tier's
		d.bytes.Store(t.bytes)
		d.count.Store(t.count)
		d.fileBytes.Store(t.fileBytes)
	}
	d.evictions.Add(t.evicted)
	if d.files != nil {
		// Committed: the files of removed records are no one's now.
		if t.droppedAll {
			d.files.wipe()
		}
		d.files.remove(t.doomed)
	}
	return nil
}

// txn is one write transaction over the six buckets, with running totals.
type txn struct {
	tx                                     *bolt.Tx
	entries, lru, seq, meta, tags, fileIdx *bolt.Bucket
	bytes, count                           int64
	evicted                                uint64
	room                                   int64 // logicalLimit at the last evict; 0 if none ran
	share                                  int64 // disk.share
	// fileBytes is the body files' total; doomed are the files of records
	// removed, unlinked once the transaction commits; droppedAll: every
	// record was removed (dropAll).
	fileBytes  int64
	doomed     []uint64
	droppedAll bool
	// rowKey is a buffer for the lru rows' keys: bbolt copies a key it
	// puts, and a delete keeps none, so one buffer serves every row of
	// the transaction (a batch of misses made one key each).
	rowKey []byte
	// oldest is the sequence of the oldest lru row, once oldestRead (see
	// recent).
	oldest     uint64
	oldestRead bool
	// entriesAt and seqAt are cursors of entries and seq kept for the
	// transaction's lookups (look); nil until the first, and again when
	// buckets reloads the handles.
	entriesAt, seqAt *bolt.Cursor
}

func newTxn(tx *bolt.Tx) *txn {
	t := &txn{tx: tx}
	t.buckets()
	t.bytes = int64(getUint64(t.meta.Get(metaBytes)))
	t.count = int64(getUint64(t.meta.Get(metaCount)))
	t.fileBytes = int64(getUint64(t.meta.Get(metaFileBytes)))
	return t
}

// buckets (re)loads the bucket handles.
func (t *txn) buckets() {
	t.entries = t.tx.Bucket(bucketEntries)
	t.lru = t.tx.Bucket(bucketLRU)
	t.seq = t.tx.Bucket(bucketSeq)
	t.meta = t.tx.Bucket(bucketMeta)
	t.tags = t.tx.Bucket(bucketTags)
	t.fileIdx = t.tx.Bucket(bucketFiles)
	t.entriesAt, t.seqAt = nil, nil
}

// look is b.Get(k) through *at, a cursor of b kept for the transaction
// (made on the first call). bbolt's Get makes a cursor per call, whose
// path from the root grows by an allocation per level: about four per
// lookup, and remove makes two of them for every Set (#17). A Seek starts
// again from the root, so it sees the transaction's earlier writes as Get
// does; it lands on k itself or on a later key, which is not k.
func look(b *bolt.Bucket, at **bolt.Cursor, k []byte) []byte {
	if *at == nil {
		*at = b.Cursor()
	}
	got, v := (*at).Seek(k)
	if !bytes.Equal(got, k) {
		return nil
	}
	return v // nil for a nested bucket, as Get
}

func (t *txn) saveMeta() error {
	if err := t.meta.Put(metaBytes, binary.BigEndian.AppendUint64(nil, uint64(t.bytes))); err != nil {
		return err
	}
	if err := t.meta.Put(metaFileBytes, binary.BigEndian.AppendUint64(nil, uint64(t.fileBytes))); err != nil {
		return err
	}
	return t.meta.Put(metaCount, binary.BigEndian.AppendUint64(nil, uint64(t.count)))
}

// put stores val under k, replacing any older value (and clearing a soft
// purge mark), as the most recently used entry, and indexes its tags (an
// encodeTags region) and its body file (file, nil when the body is in val).
// It keeps no reference to k, which may be the caller's buffer.
func (t *txn) put(k, val, tags []byte, file *fileRef) error {
	if _, err := t.remove(k); err != nil {
		return err
	}
	if err := t.entries.Put(k, val); err != nil {
		return err
	}
	write, err := t.entries.NextSequence()
	if err != nil {
		return err
	}
	ri := rowInfo{write: write, tags: tags}
	if file != nil {
		// The record replaced may have named the same file (a refreshed
		// entry keeps its body): it stays.
		t.doomed = slices.DeleteFunc(t.doomed, func(id uint64) bool { return id == file.id })
		ri.fileID, ri.fileSize = file.id, file.size
		// A value stays the caller's until the commit (bbolt copies keys
		// only), and k is a buffer.
		if err := t.fileIdx.Put(binary.BigEndian.AppendUint64(nil, file.id), bytes.Clone(k)); err != nil {
			return err
		}
		t.fileBytes += file.size
	}
	info, err := t.link(k, &ri)
	if err != nil {
		return err
	}
	if err := forEachTag(tags, func(tag []byte) error { return t.tags.Put(tagRow(tag, k), nil) }); err != nil {
		return err
	}
	t.bytes += rowCost(len(k), len(val)) + infoCost(len(k), info, tags)
	t.count++
	return nil
}

// touch makes k the most recently used entry, if it is stored.
// A key already in the newer half of the LRU order stays where it is: it
// is evicted only after every key of the older half, and a hit on it once
// it has drifted there moves it again. (The LRU is a hint; moving a key
// rewrites its lru row and rowInfo, pages scattered over the file.)
func (t *txn) touch(k []byte) error {
	raw := t.seq.Get(k)
	if raw == nil {
		return nil
	}
	ri, ok := parseInfo(raw)
	if !ok {
		return nil // remove cleans it up
	}
	if t.recent(ri.lru) {
		return nil
	}
	ri.tags = bytes.Clone(ri.tags) // raw is invalidated by the writes below
	if err := t.lru.Delete(t.lruKey(ri.lru, k)); err != nil {
		return err
	}
	_, err := t.link(k, &ri)
	return err
}

// needsTouch reports whether touch would move k: it is stored and not
// recent.
func (t *txn) needsTouch(k []byte) bool {
	ri, ok := parseInfo(t.seq.Get(k))
	return ok && !t.recent(ri.lru)
}

// recent reports whether LRU sequence n is in the newer half of the
// sequences between the oldest lru row (read once per transaction) and
// the newest given out.
func (t *txn) recent(n uint64) bool {
	if !t.oldestRead {
		t.oldestRead = true
		if k, _ := t.lru.Cursor().First(); len(k) >= 8 {
			t.oldest = binary.BigEndian.Uint64(k)
		}
	}
	newest := t.lru.Sequence()
	return n >= t.oldest && n-t.oldest >= (newest-t.oldest)/2
}

// markStale sets k's soft purge mark, stale since at on top of any mark it
// has (laterStale); it reports whether k is stored.
func (t *txn) markStale(k []byte, at time.Time) (bool, error) {
	raw := t.seq.Get(k)
	if raw == nil || t.entries.Get(k) == nil {
		return false, nil
	}
	ri, ok := parseInfo(raw)
	if !ok {
		return false, nil
	}
	staleAt := unixNano(laterStale(ri.stale, fromUnixNano(ri.staleAt), at))
	if ri.stale && staleAt == ri.staleAt {
		return true, nil
	}
	ri.stale, ri.staleAt = true, staleAt
	enc := ri.encode()
	// The rowInfo grows (by the stale time, and a legacy one to the
	// current layout): infoCost counts it.
	t.bytes += infoCost(len(k), enc, nil) - infoCost(len(k), raw, nil)
	return true, t.seq.Put(k, enc)
}

// remove deletes k, its LRU row, its rowInfo and its tag rows; it reports
// whether k was stored.
func (t *txn) remove(k []byte) (bool, error) {
	old := look(t.entries, &t.entriesAt, k)
	raw := look(t.seq, &t.seqAt, k)
	ri, _ := parseInfo(raw) // damaged: no tag rows can be found (a tag purge checks rowInfo)
	if old != nil {
		t.bytes -= rowCost(len(k), len(old)) + infoCost(len(k), raw, ri.tags)
		t.count--
		if err := t.entries.Delete(k); err != nil {
			return false, err
		}
	}
	if raw == nil {
		return old != nil, nil
	}
	if ri.fileID != 0 {
		if err := t.fileIdx.Delete(binary.BigEndian.AppendUint64(nil, ri.fileID)); err != nil {
			return false, err
		}
		t.fileBytes -= ri.fileSize
		t.doomed = append(t.doomed, ri.fileID)
	}
	if err := forEachTag(ri.tags, func(tag []byte) error { return t.tags.Delete(tagRow(tag, k)) }); err != nil && !errors.Is(err, ErrCorrupt) {
		return false, err
	}
	if err := t.lru.Delete(t.lruKey(ri.lru, k)); err != nil {
		return false, err
	}
	return old != nil, t.seq.Delete(k)
}

// link gives k the next LRU sequence and stores ri (with that sequence) as
// its rowInfo, whose encoding it returns.
func (t *txn) link(k []byte, ri *rowInfo) ([]byte, error) {
	n, err := t.lru.NextSequence()
	if err != nil {
		return nil, err
	}
	if err := t.lru.Put(t.lruKey(n, k), nil); err != nil {
		return nil, err
	}
	ri.lru = n
	info := ri.encode() // bbolt keeps a value until the commit: not a buffer
	return info, t.seq.Put(k, info)
}

// lruKey returns the lru row key of k at n in t's buffer, valid until
// the next call: for a bucket's Put (which copies it), Get or Delete.
func (t *txn) lruKey(n uint64, k []byte) []byte {
	t.rowKey = appendLRUKey(t.rowKey[:0], n, k)
	return t.rowKey
}

// maxEvictPerTxn bounds the rows one transaction evicts. Evicting down to
// 90% of a large budget at once (a 1 GiB tier frees ~100 MB) made bbolt
// copy so many pages in one transaction that the process's memory more than
// doubled for a moment (bench/soak); the next batches carry on instead.
const maxEvictPerTxn = 4 * evictChunk

// evict deletes least recently used entries while the file's pages in use
// and the body files exceed limit, down to 90% of it, so that eviction runs
// in bursts rather than per write, at most maxEvictPerTxn rows per
// transaction.
//
// incoming and incomingFiles are what the caller is about to write (rows,
// body files): room is made for them too.
func (t *txn) evict(limit, incoming, incomingFiles int64) error {
	// The body files take their bytes from the budget one for one; the
	// rest is bbolt's, converted to stored-row bytes (logicalLimit). It
	// grows as evicted rows take their files with them.
	rows := func() int64 { return t.logicalLimit(limit - t.fileBytes - incomingFiles) }
	t.room = t.logicalLimit(limit)
	if t.bytes+incoming <= rows() {
		return nil
	}
	return t.evictWhile(func() bool { return t.bytes > rows()/10*9-incoming })
}

// evictWhile evicts the least recently used entries while over reports
// true, at most maxEvictPerTxn of them.
func (t *txn) evictWhile(over func() bool) error {
	for start := t.evicted; t.evicted-start < maxEvictPerTxn; {
		var lru [][]byte
		c := t.lru.Cursor()
		for k, _ := c.First(); k != nil && len(lru) < evictChunk; k, _ = c.Next() {
			lru = append(lru, bytes.Clone(k))
		}
		if len(lru) == 0 {
			return nil
		}
		for _, row := range lru {
			if !over() {
				return nil
			}
			if err := t.evictRow(row); err != nil {
				return err
			}
		}
	}
	return nil
}

// logicalLimit converts the disk budget, which the bbolt file must honour
// (its branch pages, partly filled pages and free pages included), into
// the running total of stored bytes (rowCost) that eviction counts. The
// file is its pages up to the high-water mark plus at most one growth step
// (AllocSize), so the pages in use (high-water less the free pages of the
// last commit) may fill the budget less that step; the ratio of stored
// bytes to pages in use converts that. Eviction starts exactly when the
// pages in use pass it, and keeping them under it leaves freed pages for
// the next writes to reuse, so the file stops growing at the budget
// instead of past it. (A running file never shrinks; one that outgrew an
// earlier, larger budget is compacted by the next Open: shrink.go.)
func (t *txn) logicalLimit(limit int64) int64 {
	if limit < minPagedBudget {
		return limit
	}
	db := t.tx.DB()
	used := t.tx.Size() - int64(db.Stats().FreeAlloc)
	if t.bytes <= 0 || used <= 0 {
		return limit
	}
	pages := float64(max(limit-int64(db.AllocSize), limit/2)) * float64(t.share) / 1000
	return int64(pages * float64(t.bytes) / float64(used))
}

// Shares of the budget that pages in use may fill, in thousandths: where
// it starts, how much each growth of a nearly full file takes off, and
// the least it goes to.
const (
	startShare = 700
	shareStep  = 100
	minShare   = 400
)

// fileGrew lowers the share of the budget that pages in use may fill each
// time the file grows while near the budget. A value is written to
// contiguous pages and every write copies the leaf pages it touches, so a
// file whose free pages are scattered grows even with free space left:
// measured with values of 20-420 KiB, a file holding its budget of data
// settled about 40% larger. Growth past three quarters of the budget once
// eviction has begun (the file is full, not filling) shows the free pages
// are too few or too scattered; more are kept from then on.
func (d *disk) fileGrew() {
	fi, err := os.Stat(d.path)
	if err != nil {
		return
	}
	if size := fi.Size(); size > d.file {
		if d.evictions.Load() > 0 && size > d.limit/4*3 {
			d.share = max(d.share-shareStep, minShare)
		}
		d.file = size
	}
}

// minPagedBudget is the smallest disk budget that logicalLimit converts:
// below it a few fixed pages (meta, freelist, bucket roots) would be most
// of the budget, and it counts stored bytes alone (tests, toy nodes).
const minPagedBudget = 8 << 20

// growStep is the step by which bbolt grows the file (its AllocSize,
// 16 MiB by default): at most 1/64 of the budget, so that the step the
// file may take past its pages in use stays small beside the budget.
func growStep(limit int64) int {
	return int(min(16<<20, max(limit/64, 64<<10)))
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

// appendLRUKey appends the lru row key of k at n to b.
func appendLRUKey(b []byte, n uint64, k []byte) []byte {
	return append(binary.BigEndian.AppendUint64(b, n), k...)
}

// closedErr maps bbolt's error for a closed database to ErrClosed.
func closedErr(err error) error {
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

func getUint64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}
