package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	// the bbolt file and the body files within it, the file's pages and
	// free pages included (budgets of
	// 8 MiB and more; smaller ones count stored keys and values only). A
	// file that outgrew an earlier, larger budget is evicted down to this
	// one and compacted by Open (shrink.go).
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
	// FileBodyMin is the body size from which the disk tier keeps a body
	// in a file of its own under Dir/bodies instead of in bbolt, so that
	// hits send it from the page cache without copying it through the
	// heap; default 64 KiB (DefaultFileBodyMin). The files count toward
	// DiskBytes.
	FileBodyMin int64
	// NoFileBodies keeps every body in bbolt (files already written are
	// still read).
	NoFileBodies bool
	// ScrubBytesPerSecond paces the scrubber that checks the CRC of every
	// body file once after Open, so that their first hits need not (see
	// scrub.go); default 32 MiB/s (DefaultScrubBytesPerSecond).
	ScrubBytesPerSecond int64
	// NoScrub turns the scrubber off: each body file's first hit after
	// Open checks its CRC before sending it.
	NoScrub bool
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

// Store is the two-tier object store: a façade over the parts that each
// guard their own state (see the package doc). Its methods are safe for
// concurrent use.
//
// Lock order. Each lock guards one thing; a lock is only taken while
// holding locks listed before it (outer first), never the reverse:
//
//  1. lifecycle.mu (read/write) guards closed: every public method but
//     Stats, Generation and MemoryItemLimit holds it for reading while it
//     uses the parts, Close for writing as it marks the store closed.
//  2. purgeLog.mu (read/write) guards the ring of recent invalidations:
//     written by an invalidation as it begins (holding only 1), read by
//     SetFetchedAt across its test and its Set (→ 4 → 6).
//  3. memory.purgeMu (read/write) guards the moves of the purge epoch:
//     written by an invalidation once its disk step is done (holding only
//     1), read by a promotion across its check and its write (→ 4 → 7).
//  4. stripe.mu (64 stripes, by key hash) guards the memory-tier writes of
//     its keys: Set, promotion, a soft purge's stale copy. A Set also
//     queues its disk write under it (→ 6), so that memory and the queue
//     see the Sets of a key in one order.
//  5. writer.txMu guards the disk's write transactions: the writer's
//     batches, deletes, purges, drops of corrupt records. Never held with
//     2, 3 or 4.
//  6. pendingWrites.mu guards the pending entries and their byte total;
//     unappliedSet.mu the purges whose disk step failed (or, for
//     Store.applying, is in progress); disk.reset the
//     replacement of a damaged file. Each is taken under 1, 4 or 5 (or
//     none, on the writer's goroutine), never one under another.
//  7. memIndex.mu guards the memory tier's key and tag index. Innermost: it
//     is taken by memory-tier writes (under 4), by a purge (under 5 for a
//     purge of all) and by ristretto's OnExit callback, possibly under
//     ristretto's own locks; so no lock is taken and no ristretto method is
//     called while it is held.
//
// Counters are atomics beside the state they count. The purge epoch, the
// stripe epochs and the generation are atomics too, read without a lock by
// a Get or a fetch as it begins, and moved only under their lock above.
type Store struct {
	life    lifecycle
	mem     *memory // nil when the memory tier is disabled
	disk    *disk
	w       *writer
	metrics *collector
	reg     prometheus.Registerer

	// sweeping ends when the sweep of orphan body files and then the
	// scrub of the others, started by Open, have stopped; stopScrub
	// (Close) stops the scrub early.
	sweeping  chan struct{}
	stopScrub context.CancelFunc
	scrubbed  atomic.Uint64 // body files the scrubber verified

	purges    purgeLog     // recent invalidations, for SetFetchedAt
	applied   appliedSeq   // see AppliedSeq
	unapplied unappliedSet // invalidations whose disk step failed (unapplied.go)
	// applying holds the purges in progress, from the moment they are
	// purged from memory and the pending writes until their disk step is
	// done: disk hits they match are hidden meanwhile (see Purge).
	applying unappliedSet
	// hidden holds the purges announced ahead of their ordered apply
	// (Hide): disk and pending hits they match are hidden until Unhide.
	hidden unappliedSet
}

// lifecycle is the Store's open or closed state: nothing touches
// ristretto, bbolt or the queue while they are being closed.
type lifecycle struct {
	mu     sync.RWMutex // guards closed
	closed bool
}

// enter holds the store open (mu for reading) and reports true, or reports
// false, holding nothing, once it is closed.
func (l *lifecycle) enter() bool {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return false
	}
	return true
}

// leave ends an enter that reported true.
func (l *lifecycle) leave() { l.mu.RUnlock() }

// close marks the store closed once no method holds it open, and reports
// whether it was open.
func (l *lifecycle) close() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	was := !l.closed
	l.closed = true
	return was
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
	fileMin := opts.FileBodyMin
	if opts.NoFileBodies {
		fileMin = 0
	}
	if d.files, err = openBodyFiles(opts.Dir, fileMin); err != nil {
		_ = d.close()
		return nil, err
	}
	if err := d.shrink(); err != nil {
		_ = d.close()
		return nil, err
	}
	// The filter of absent keys is built from the file in the background,
	// only now: a build running during the shrink would race its stat of
	// the file against a set-aside (the scan meeting damage renames the
	// file) and fail against a compaction's closed file.
	d.absent.maybeRebuild(d)
	s := &Store{disk: d, reg: opts.Registerer, sweeping: make(chan struct{})}
	s.purges.now = opts.Now
	s.w = newWriter(d, &s.unapplied, opts.Logger, opts.WriteQueue, opts.WriteQueueBytes)
	seq, stream, err := d.appliedSeq()
	if err != nil {
		_ = d.close()
		return nil, fmt.Errorf("read applied purge seq: %w", err)
	}
	s.applied.completed(appliedMark{seq: seq, stream: stream}, nil)
	if !opts.NoMemoryTier {
		if s.mem, err = newMemory(opts.MemoryBytes); err != nil {
			_ = d.close()
			return nil, err
		}
		s.w.wroteFile = func(e, inFile *Entry) {
			if _, hidden := s.hidden.filter(e); !hidden { // a hidden write stays on disk (Hide)
				s.mem.adopt(e, inFile, s.w.pending.get)
			}
		}
	}
	if s.reg != nil {
		s.metrics = &collector{s: s}
		if err := s.reg.Register(s.metrics); err != nil {
			if s.mem != nil {
				s.mem.close()
			}
			_ = d.close()
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	go s.w.run()
	ctx, stop := context.WithCancel(context.Background())
	s.stopScrub = stop
	go func() {
		defer close(s.sweeping)
		s.sweepBodyFiles()
		if !opts.NoScrub {
			s.scrubBodyFiles(ctx, opts.ScrubBytesPerSecond)
		}
	}()
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

// get is Get. It keeps no reference to key after it returns
// (GetBytesWithin relies on it): what must outlive the call gets a copy.
func (s *Store) get(key string, admit Admitter) (*Entry, Tier, error) {
	if !s.life.enter() {
		return nil, TierNone, ErrClosed
	}
	defer s.life.leave()
	var t ticket
	if s.mem != nil {
		if e, ok := s.mem.get(key); ok {
			if e.InFile() {
				// The disk's LRU must see the hits on a body it holds,
				// or eviction would take a hot object's file from under
				// the memory tier.
				s.w.touch(e.Key)
			}
			return e, TierMemory, nil
		}
		// Read before the pending map: see memory.ticket.
		t = s.mem.ticket(key)
	}
	if e := s.w.pending.get(key); e != nil {
		if f, hidden := s.hidden.filter(e); hidden { // see Hide
			if f == nil {
				return nil, TierNone, ErrNotFound
			}
			return f, TierMemory, nil
		}
		return e, TierMemory, nil
	}
	e, raw, err := s.disk.get(key, admit)
	switch {
	case err == nil:
	case errors.Is(err, ErrOverBudget):
		return nil, TierDisk, err
	case errors.Is(err, ErrCorrupt):
		s.w.dropCorrupt(strings.Clone(key), raw, err)
		return nil, TierNone, ErrNotFound
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrClosed):
		return nil, TierNone, err
	case errors.Is(err, errDamaged), errors.Is(err, errNoDisk):
		// Set aside (and logged) by the disk: what it held is gone.
		return nil, TierNone, ErrNotFound
	default:
		s.disk.report("get", err)
		return nil, TierNone, fmt.Errorf("get %q: %w", key, err)
	}
	if f, hidden := s.hide(e); hidden {
		// A purge whose disk effect is not done (in progress, or failed)
		// covers it: not promoted.
		if f == nil {
			return nil, TierNone, ErrNotFound
		}
		return f, TierDisk, nil
	}
	if s.mem != nil {
		s.mem.promote(e, t)
	}
	// e.Key equals key (disk.get checks) and is e's own memory.
	s.w.touch(e.Key)
	return e, TierDisk, nil
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
	if e == nil || !s.life.enter() {
		return
	}
	defer s.life.leave()
	s.set(e)
}

// set is Set for a store held open.
func (s *Store) set(e *Entry) {
	switch {
	case s.mem == nil:
		s.w.set(e)
	case s.disk.files.wants(e):
		s.mem.setAside(e, s.w.set) // its bytes go to a file, not to the memory tier
	default:
		s.mem.set(e, s.w.set)
	}
}

// Delete removes keys from both tiers, including writes still pending.
// After it returns Get does not return the removed entries.
func (s *Store) Delete(keys ...string) error {
	if !s.life.enter() {
		return ErrClosed
	}
	defer s.life.leave()
	s.purges.record(&matcher{exact: toSet(keys)})
	var err error
	s.w.locked(func() {
		s.w.pending.drop(func(k string) bool { return slices.Contains(keys, k) })
		_, err = s.disk.deleteKeys(keys)
		s.unapplied.settle(s.disk, err, func() *matcher { return newMatcher(Purge{Keys: keys}) }, false)
	})
	if s.mem != nil {
		s.mem.deleteKeys(keys)
	}
	if err != nil {
		s.disk.report("delete", err)
		return fmt.Errorf("delete %d keys: %w", len(keys), err)
	}
	return nil
}

// Evict removes the entry stored under key and every entry derived from it
// (stored under key+"\x00"..., as Purge.Keys selects them) from both tiers
// and the pending writes, and returns how many keys it removed. It makes
// room, as the store's own eviction does; it does not invalidate: unlike
// Delete and Purge it does not move Generation, so fills in progress are
// not stored stale for it and a later request still joins them (the edge
// replaces a little-used Vary variant by a new one, which a client can make
// happen as often as it sends requests; an invalidation there would weaken
// the collapsing of every fill on the node). A fill of key that ends after
// it stores its entry again.
//
// It is Purge's core (purgeSettled): a write of key queued or in the
// writer's hands when Evict begins does not land after it, and when the
// disk step fails, the disk copies stay hidden (a miss, never promoted)
// and are removed once the disk writes again, as for a failed Purge.
func (s *Store) Evict(key string) (int, error) {
	if !s.life.enter() {
		return 0, ErrClosed
	}
	defer s.life.leave()
	n, err := s.purgeSettled(newMatcher(Purge{Keys: []string{key}}), false, appliedMark{}, nil, nil)
	if err != nil {
		s.disk.report("evict", err)
		return n, fmt.Errorf("evict %q: %w", key, err)
	}
	return n, nil
}

// DeletePrefix removes every key that starts with prefix (bytewise) from
// both tiers, including writes still pending, and returns how many distinct
// keys it removed. Disk: an ordered cursor scan from prefix. Memory: a range
// scan of the memory tier's key index (O(log n) plus the matches).
func (s *Store) DeletePrefix(prefix string) (int, error) {
	if !s.life.enter() {
		return 0, ErrClosed
	}
	defer s.life.leave()
	s.purges.record(&matcher{prefixes: []string{prefix}})
	var (
		pending, onDisk, inMemory []string
		err                       error
	)
	s.w.locked(func() {
		pending = s.w.pending.drop(func(k string) bool { return strings.HasPrefix(k, prefix) })
		onDisk, err = s.disk.deletePrefix(prefix)
		s.unapplied.settle(s.disk, err, func() *matcher { return &matcher{prefixes: []string{prefix}} }, false)
	})
	if s.mem != nil {
		inMemory = s.mem.deletePrefix(prefix)
	}
	n := countDistinct(pending, onDisk, inMemory)
	if err != nil {
		s.disk.report("delete prefix", err)
		return n, fmt.Errorf("delete prefix %q: %w", prefix, err)
	}
	return n, nil
}

// Flush waits until every disk write queued before it has landed and the
// memory tier has applied its queued Sets. It returns at once after Close.
func (s *Store) Flush() {
	if !s.life.enter() {
		return
	}
	done := s.w.flush()
	s.life.leave()
	<-done
	if s.mem != nil && s.life.enter() {
		s.mem.wait()
		s.life.leave()
	}
}

// Close drains the write queue, then closes both tiers. It is idempotent;
// afterwards Get and Delete return ErrClosed and Set does nothing.
func (s *Store) Close() error {
	return s.Shutdown(context.Background())
}

// Shutdown is Close with the drain of the write queue bounded by ctx: the
// disk writes still queued when ctx ends are dropped and counted as
// skipped (a cache refetches what it lost), so that stopping a node takes
// the time its operator allows (server.shutdown_timeout), not whatever a
// full queue needs. A transaction already under way still commits.
func (s *Store) Shutdown(ctx context.Context) error {
	if !s.life.close() {
		return nil
	}
	s.stopScrub()
	s.w.close(ctx)
	<-s.sweeping
	if s.metrics != nil {
		s.reg.Unregister(s.metrics)
	}
	if s.mem != nil {
		s.mem.close()
	}
	if err := s.disk.close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// Stats is a snapshot of the store's counters.
type Stats struct {
	MemoryEntries, MemoryBytes int64 // resident in the memory tier (bytes: Entry.Size)
	DiskEntries, DiskBytes     int64 // on disk (bytes: keys, encoded values and body files)
	MemoryLimit, DiskLimit     int64 // the tiers' sizes in the same bytes; MemoryLimit 0 without a memory tier
	PendingWrites              int   // Set entries whose disk write has not landed
	MemoryEvictions            uint64
	DiskEvictions              uint64
	DiskWrites                 uint64 // entries written to disk
	SkippedWrites              uint64 // disk writes skipped because the queue was full
	CorruptDropped             uint64 // damaged disk records dropped
	DiskErrors                 uint64
	DamagedFiles               uint64 // damaged store files set aside (at open or while running)
	ScrubbedFiles              uint64 // body files the scrubber found intact (damaged ones count in CorruptDropped)
}

// Stats returns current counters. It is cheap and safe after Close.
func (s *Store) Stats() Stats {
	st := Stats{
		DiskEntries:    s.disk.count.Load(),
		DiskBytes:      s.disk.bytes.Load() + s.disk.fileBytes.Load(),
		DiskLimit:      s.disk.limit,
		DiskEvictions:  s.disk.evictions.Load(),
		DiskWrites:     s.w.writes.Load(),
		SkippedWrites:  s.w.skipped.Load(),
		CorruptDropped: s.w.corrupt.Load(),
		DiskErrors:     s.disk.failures.Load(),
		DamagedFiles:   s.disk.setAsides.Load(),
		ScrubbedFiles:  s.scrubbed.Load(),
		PendingWrites:  s.w.pending.len(),
	}
	if s.mem != nil {
		st.MemoryEntries, st.MemoryBytes = s.mem.stats()
		st.MemoryEvictions = s.mem.evictions.Load()
		st.MemoryLimit = s.mem.budget
	}
	return st
}
