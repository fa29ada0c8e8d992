package storage

import (
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"edged/internal/fielderr"
)

// Options configures a Store. Open gives a zero field the default named on
// it ([DefaultOptions] holds them all); nothing is turned off with a
// negative number (NoMemoryTier says it). Validate is in options.go.
type Options struct {
	// Dir is the directory of the bbolt file Dir/edged.db, created if
	// missing. Required.
	Dir string
	// MemoryBytes is the memory tier budget; default 256 MiB. Entries
	// larger than a quarter of it are not kept in memory.
	MemoryBytes int64
	// NoMemoryTier turns the memory tier off, whatever MemoryBytes says:
	// every hit is a disk hit.
	NoMemoryTier bool
	// DiskBytes is the disk tier budget; default 10 GiB. LRU eviction keeps
	// the bbolt file within it, pages and free pages included (budgets of
	// 8 MiB and more; smaller ones count stored keys and values only). The
	// file never shrinks, so one that outgrew an earlier budget stays larger.
	DiskBytes int64
	// WriteQueue is the length of the asynchronous disk write queue;
	// default 1024. When it is full, disk writes are skipped and counted.
	WriteQueue int
	// WriteQueueBytes bounds the bytes (Entry.Size) of the entries waiting
	// for their disk write; default 64 MiB. Past it disk writes are skipped
	// and counted, as when the queue is full, except that one entry is
	// always taken when none waits (so an object larger than the bound can
	// still reach the disk).
	WriteQueueBytes int64
	// Logger receives disk errors and dropped corrupt entries; nil discards.
	Logger *slog.Logger
	// Registerer receives the edged_storage_* metrics; nil registers none.
	// Close unregisters them.
	Registerer prometheus.Registerer
	// Now is the clock that timestamps invalidations for SetFetchedAt; nil
	// means time.Now. It must be the clock of the caller's response times.
	Now func() time.Time
}

// Defaults of Options.
const (
	DefaultMemoryBytes = 256 << 20
	DefaultDiskBytes   = 10 << 30
	DefaultWriteQueue  = 1024
	// DefaultWriteQueueBytes is the default of Options.WriteQueueBytes.
	DefaultWriteQueueBytes = 64 << 20
)

// FileName is the name of the bbolt file inside Options.Dir.
const FileName = "edged.db"

// MaxKeyLen is the longest key the disk tier stores (bbolt's key limit less
// the 8-byte LRU sequence). Longer or empty keys are kept in memory only and
// counted as skipped disk writes.
const MaxKeyLen = bolt.MaxKeySize - 8

// keyStripes is the number of per-key lock stripes ordering Sets against
// promotions of disk hits.
const keyStripes = 64

// Store is the two-tier object store. Its methods are safe for concurrent
// use.
//
// Lock order (outer first): closeMu (read) → purgeMu (read) → stripe.mu →
// pendMu, and closeMu (read) → diskMu → pendMu. purgeMu is taken for writing
// with only closeMu held. The memory index's lock (memIndex.mu) is innermost:
// taken under stripe.mu by memory-tier Sets, with none or closeMu held by
// purges, and by ristretto's OnExit callback (possibly under ristretto's own
// locks); nothing is locked and no ristretto method is called while it is
// held. No other nesting occurs; ristretto's callbacks take no other lock.
type Store struct {
	log     *slog.Logger
	now     func() time.Time // timestamps invalidations
	mem     *memory          // nil when the memory tier is disabled
	disk    *disk
	metrics *collector
	reg     prometheus.Registerer

	// closeMu guards the transition to closed: every public method but
	// Stats holds it for reading, Close for writing, so nothing touches
	// ristretto, bbolt or the queue while they are being closed.
	closeMu sync.RWMutex
	closed  atomic.Bool

	queue      chan op       // to the writer goroutine
	stop       chan struct{} // closed by Close: drain and exit
	writerDone chan struct{} // closed by the writer on exit

	// diskMu serializes disk write transactions, so the writer's batch
	// (snapshot of pending entries → commit → release) and a Delete never
	// interleave: a deleted pending entry cannot be written after the delete.
	diskMu sync.Mutex
	// pendMu guards pending: entries Set but not yet on disk.
	pendMu  sync.Mutex
	pending map[string]*pendingWrite
	// pendingBytes is the total size of pending's entries (under pendMu);
	// maxPending bounds it (Options.WriteQueueBytes).
	pendingBytes, maxPending int64

	// A disk hit is promoted to memory only if no purge (purgeEpoch) and no
	// Set of its key (its stripe's epoch) happened since the Get began, so a
	// promotion never resurrects a purged entry nor hides a newer one.
	// purgeMu is held for writing while purgeEpoch moves.
	purgeMu    sync.RWMutex
	purgeEpoch atomic.Uint64
	seed       maphash.Seed
	stripes    [keyStripes]stripe

	// gen counts invalidations (Purge, Delete, DeletePrefix) as they begin;
	// history[g%purgeHistory] is the one that made it g. Both are written
	// under purgeMu held for writing; SetFetched reads them under purgeMu
	// held for reading, so a purge either sees its Set or is seen by it.
	gen atomic.Uint64
	// applied is the last purge sequence whose purge is complete: recorded
	// on disk and applied to the memory tier (see AppliedSeq).
	applied atomic.Uint64
	history [purgeHistory]*matcher

	skipped, writes, corrupt, diskErrors atomic.Uint64

	// unapplied holds the purges whose disk effect failed (unapplied.go).
	unapplied unappliedSet

	// batchHook, when set (by tests, before the first Set), runs at the
	// start of every writer batch, before diskMu is taken.
	batchHook func()
	// writeLinger is how long a batch with a Set waits for more (the
	// constant writeLinger; tests lengthen it before the first Set).
	writeLinger time.Duration
}

// stripe orders Sets and promotions of the keys hashing to it.
type stripe struct {
	mu    sync.Mutex // guards the memory-tier Set of keys of this stripe
	epoch atomic.Uint64
}

// Open opens or creates the store in opts.Dir. It reads running totals from
// the meta bucket and does not scan the entries. Errors name the file.
func Open(opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return nil, fielderr.Prefix("open store: option ", err)
	}
	path := filepath.Join(opts.Dir, FileName)
	s, err := open(opts, path)
	if errors.Is(err, ErrLocked) {
		return nil, fmt.Errorf("open store %s: %w; another edged (or another program) is using data directory %s, and every node needs one of its own", path, err, opts.Dir)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return s, nil
}

func open(opts Options, path string) (*Store, error) {
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, err
	}
	d, err := openDisk(path, opts.DiskBytes, opts.Logger)
	if err != nil {
		return nil, err
	}
	s := &Store{
		log:         opts.Logger,
		now:         opts.Now,
		disk:        d,
		reg:         opts.Registerer,
		queue:       make(chan op, opts.WriteQueue),
		stop:        make(chan struct{}),
		writerDone:  make(chan struct{}),
		writeLinger: writeLinger,
		pending:     make(map[string]*pendingWrite),
		maxPending:  opts.WriteQueueBytes,
		seed:        maphash.MakeSeed(),
	}
	seq, err := d.appliedSeq()
	if err != nil {
		_ = d.close()
		return nil, fmt.Errorf("read applied purge seq: %w", err)
	}
	s.applied.Store(seq)
	if !opts.NoMemoryTier {
		if s.mem, err = newMemory(opts.MemoryBytes); err != nil {
			_ = d.close()
			return nil, err
		}
	}
	if s.reg != nil {
		s.metrics = &collector{s: s}
		if err := s.reg.Register(s.metrics); err != nil {
			s.closeTiers()
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	go s.runWriter()
	return s, nil
}

// Get returns the entry stored under key and the tier it came from: memory,
// then writes still pending (reported as TierMemory), then disk. An entry
// marked by a soft purge comes with Stale set. A disk hit
// is promoted to memory and its LRU recency is updated asynchronously through
// the write queue. A damaged disk record is dropped, counted, logged and
// reported as ErrNotFound. After Close, Get returns ErrClosed.
//
// The returned Entry is shared: callers must not modify it.
func (s *Store) Get(key string) (*Entry, Tier, error) {
	return s.get(key, nil)
}

// GetBytes is Get for a key held in a buffer the caller reuses (one per
// request, say): nothing keeps key or its memory once GetBytes returns, so
// the caller may overwrite it at once, and no string copy of it is made.
func (s *Store) GetBytes(key []byte) (*Entry, Tier, error) {
	// The string shares key's memory: get must copy it before anything
	// outlives the call (the LRU touch, a log line).
	return s.get(unsafe.String(unsafe.SliceData(key), len(key)), nil)
}

// get is Get. It keeps no reference to key after it returns (GetBytes
// relies on it): what must outlive the call gets a copy.
func (s *Store) get(key string, admit Admitter) (*Entry, Tier, error) {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed.Load() {
		return nil, TierNone, ErrClosed
	}
	if s.mem != nil {
		if e, ok := s.mem.get(key); ok {
			return e, TierMemory, nil
		}
	}
	// The epochs are read before the pending map: a Set that lands after
	// this point either is seen below or moves its stripe's epoch.
	st := s.stripe(key)
	purges, sets := s.purgeEpoch.Load(), st.epoch.Load()
	if e := s.pendingEntry(key); e != nil {
		return e, TierMemory, nil
	}
	e, raw, err := s.disk.get(key, admit)
	switch {
	case err == nil:
	case errors.Is(err, ErrOverBudget):
		return nil, TierDisk, err
	case errors.Is(err, ErrCorrupt):
		s.dropCorrupt(strings.Clone(key), raw, err)
		return nil, TierNone, ErrNotFound
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrClosed):
		return nil, TierNone, err
	case errors.Is(err, errDamaged), errors.Is(err, errNoDisk):
		// Set aside (and logged) by the disk: what it held is gone.
		return nil, TierNone, ErrNotFound
	default:
		s.diskError("get", err)
		return nil, TierNone, fmt.Errorf("get %q: %w", key, err)
	}
	if f, hidden := s.unapplied.filter(e); hidden {
		// A purge whose disk effect failed covers it: not promoted.
		if f == nil {
			return nil, TierNone, ErrNotFound
		}
		return f, TierDisk, nil
	}
	s.promote(e, st, purges, sets)
	// e.Key equals key (disk.get checks) and is e's own memory.
	s.enqueue(op{kind: opTouch, key: e.Key})
	return e, TierDisk, nil
}

// promote puts a disk hit into memory unless a purge or a Set of its key
// happened since the epochs were read.
func (s *Store) promote(e *Entry, st *stripe, purges, sets uint64) {
	if s.mem == nil || !s.mem.fits(e) {
		return // memory cannot hold an older value either: Get would have returned it
	}
	s.purgeMu.RLock()
	defer s.purgeMu.RUnlock()
	st.mu.Lock()
	defer st.mu.Unlock()
	if s.purgeEpoch.Load() == purges && st.epoch.Load() == sets {
		s.mem.set(e)
	}
}

func (s *Store) stripe(key string) *stripe {
	return &s.stripes[maphash.String(s.seed, key)%keyStripes]
}

// dropCorrupt deletes a damaged disk record, unless it was rewritten since.
func (s *Store) dropCorrupt(key string, raw []byte, cause error) {
	s.corrupt.Add(1)
	s.log.Warn("storage: dropping corrupt disk entry", "key", key, "err", cause)
	s.diskMu.Lock()
	defer s.diskMu.Unlock()
	if err := s.disk.dropIfEqual(key, raw); err != nil {
		s.diskError("drop corrupt entry", err)
	}
}

// afterDiskPurge follows the disk step of an invalidation, under diskMu
// and before the memory tier is purged: on failure it remembers the
// invalidation (so disk hits that it covers are hidden until it is applied),
// on success it re-applies those that failed earlier.
func (s *Store) afterDiskPurge(err error, m func() *matcher, soft bool) {
	switch {
	case err == nil:
		s.retryUnapplied()
	case !errors.Is(err, ErrClosed):
		s.unapplied.add(m(), soft)
	}
}

func (s *Store) diskError(what string, err error) {
	if errors.Is(err, ErrClosed) {
		return
	}
	s.diskErrors.Add(1)
	if errors.Is(err, errNoDisk) {
		return // logged once, when the disk tier was lost
	}
	s.log.Error("storage: disk error", "op", what, "err", err)
}

// Set stores e: in memory now (ristretto may decline it) and on disk through
// the bounded asynchronous writer. Until its disk write lands, Get returns e
// even if memory declined it. When the write queue is full the disk write is
// skipped and counted; then only the memory tier may hold e (and an older
// disk copy of its key may reappear once memory evicts it). The same holds
// for an empty key or one longer than MaxKeyLen. A nil e, or any call after
// Close, does nothing.
//
// e must not be modified after Set.
func (s *Store) Set(e *Entry) {
	if e == nil {
		return
	}
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed.Load() {
		return
	}
	s.set(e)
}

// set is Set without the closed check; the caller holds closeMu for reading.
func (s *Store) set(e *Entry) {
	st := s.stripe(e.Key)
	st.mu.Lock()
	defer st.mu.Unlock()
	if s.mem != nil {
		s.mem.set(e)
	}
	s.queueSet(e)
	st.epoch.Add(1) // after the pending map holds e; see Get
}

// Delete removes keys from both tiers, including writes still pending.
// After it returns Get does not return the removed entries.
func (s *Store) Delete(keys ...string) error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed.Load() {
		return ErrClosed
	}
	s.record(&matcher{exact: toSet(keys)})
	s.diskMu.Lock()
	s.dropPending(func(k string) bool { return containsKey(keys, k) })
	_, err := s.disk.deleteKeys(keys)
	s.afterDiskPurge(err, func() *matcher { return newMatcher(Purge{Keys: keys}) }, false)
	s.diskMu.Unlock()
	s.purgeMemory(func() []string { s.mem.del(keys); return keys })
	if err != nil {
		s.diskError("delete", err)
		return fmt.Errorf("delete %d keys: %w", len(keys), err)
	}
	return nil
}

// purgeMemory runs del on the memory tier once pending writes and disk no
// longer hold the purged keys. The order matters: a Get that read the disk
// before then either promotes before the epoch moves (and del, queued after
// it, removes the promoted copy) or sees the epoch moved and does not
// promote; a Get that reads the disk later finds nothing.
func (s *Store) purgeMemory(del func() []string) []string {
	s.purgeMu.Lock()
	s.purgeEpoch.Add(1)
	s.purgeMu.Unlock()
	if s.mem == nil {
		return nil
	}
	keys := del()
	s.mem.wait() // queued Dels applied: nothing buffered can resurrect a key
	return keys
}

func containsKey(keys []string, k string) bool {
	for _, key := range keys {
		if key == k {
			return true
		}
	}
	return false
}

// DeletePrefix removes every key that starts with prefix (bytewise) from
// both tiers, including writes still pending, and returns how many distinct
// keys it removed. Disk: an ordered cursor scan from prefix. Memory: a range
// scan of the memory tier's key index (O(log n) plus the matches).
func (s *Store) DeletePrefix(prefix string) (int, error) {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed.Load() {
		return 0, ErrClosed
	}
	s.record(&matcher{prefixes: []string{prefix}})
	removed := make(map[string]struct{})
	s.diskMu.Lock()
	pending := s.dropPending(func(k string) bool { return strings.HasPrefix(k, prefix) })
	onDisk, err := s.disk.deletePrefix(prefix)
	s.afterDiskPurge(err, func() *matcher { return &matcher{prefixes: []string{prefix}} }, false)
	s.diskMu.Unlock()
	inMemory := s.purgeMemory(func() []string { return s.mem.deletePrefix(prefix) })
	for _, keys := range [][]string{pending, onDisk, inMemory} {
		for _, k := range keys {
			removed[k] = struct{}{}
		}
	}
	if err != nil {
		s.diskError("delete prefix", err)
		return len(removed), fmt.Errorf("delete prefix %q: %w", prefix, err)
	}
	return len(removed), nil
}

// Flush waits until every disk write queued before it has landed and the
// memory tier has applied its queued Sets. It returns at once after Close.
func (s *Store) Flush() {
	s.closeMu.RLock()
	if s.closed.Load() {
		s.closeMu.RUnlock()
		return
	}
	done := make(chan struct{})
	s.queue <- op{kind: opFlush, done: done} // blocking: a flush is never skipped
	s.closeMu.RUnlock()
	<-done
	if s.mem != nil {
		s.closeMu.RLock()
		if !s.closed.Load() {
			s.mem.wait()
		}
		s.closeMu.RUnlock()
	}
}

// Close drains the write queue, then closes both tiers. It is idempotent;
// afterwards Get and Delete return ErrClosed and Set does nothing.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed.Load() {
		s.closeMu.Unlock()
		return nil
	}
	s.closed.Store(true)
	s.closeMu.Unlock()
	close(s.stop)
	<-s.writerDone
	if s.metrics != nil {
		s.reg.Unregister(s.metrics)
	}
	if err := s.closeTiers(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

func (s *Store) closeTiers() error {
	if s.mem != nil {
		s.mem.close()
	}
	return s.disk.close()
}

// Stats is a snapshot of the store's counters.
type Stats struct {
	MemoryEntries, MemoryBytes int64 // resident in the memory tier (bytes: Entry.Size)
	DiskEntries, DiskBytes     int64 // on disk (bytes: keys and encoded values)
	PendingWrites              int   // Set entries whose disk write has not landed
	MemoryEvictions            uint64
	DiskEvictions              uint64
	DiskWrites                 uint64 // entries written to disk
	SkippedWrites              uint64 // disk writes skipped because the queue was full
	CorruptDropped             uint64 // damaged disk records dropped
	DiskErrors                 uint64
	DamagedFiles               uint64 // damaged store files set aside (at open or while running)
}

// Stats returns current counters. It is cheap and safe after Close.
func (s *Store) Stats() Stats {
	st := Stats{
		DiskEntries:    s.disk.count.Load(),
		DiskBytes:      s.disk.bytes.Load(),
		DiskEvictions:  s.disk.evictions.Load(),
		DiskWrites:     s.writes.Load(),
		SkippedWrites:  s.skipped.Load(),
		CorruptDropped: s.corrupt.Load(),
		DiskErrors:     s.diskErrors.Load(),
		DamagedFiles:   s.disk.setAsides.Load(),
	}
	if s.mem != nil {
		st.MemoryEntries, st.MemoryBytes = s.mem.stats()
		st.MemoryEvictions = s.mem.evictions.Load()
	}
	s.pendMu.Lock()
	st.PendingWrites = len(s.pending)
	s.pendMu.Unlock()
	return st
}
