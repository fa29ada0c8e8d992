package storage

import (
	"bytes"
	"errors"
	"hash/maphash"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// absentKeys proves that a key is not on disk without a read transaction:
// a miss looked its key up in bbolt only to learn that it was not there (a
// read transaction, a bucket, a cursor's walk from the root, and the
// faults of the pages it touched: about 6% of a miss's CPU, #17).
//
// It is a Bloom filter of every key the disk may hold. A key is added
// before the write transaction that puts it commits (disk.apply), so a key
// on disk is always in it: "not in the filter" proves "not on disk", and a
// Get then skips the disk. Keys leave the disk (purges, eviction, a
// damaged file's replacement) without leaving the filter, which only
// answers "maybe" more often: the disk is read then, as before. The filter
// is rebuilt from the disk's keys once the keys added since it was built
// reach its capacity, and at open (in the background: until the first
// build ends every Get reads the disk).
//
// A rebuild cannot miss a key: it starts holding the writer's txMu between
// transactions (so every transaction committed before it is in the file it
// scans, each scan step a read transaction of its own), and until the new
// filter replaces the old one every key the writer adds goes into both.
type absentKeys struct {
	seed maphash.Seed
	// cur answers lookups; nil until the first build ends (every key
	// "maybe"). Replaced, never changed but by adds, under mu.
	cur atomic.Pointer[bloom]

	mu       sync.Mutex // guards next, failedAt, and the adds and swap of cur
	next     *bloom     // the filter being built: the writer's adds go to it too
	failedAt time.Time  // when the last build failed: the next waits a while

	stop     chan struct{} // closed by close: a build under way ends
	stopOnce sync.Once
	builds   sync.WaitGroup // the builds under way (tests wait for them)
}

// bloom is a Bloom filter of key hashes; safe for concurrent adds and
// lookups.
type bloom struct {
	bits     []atomic.Uint64
	mask     uint64 // of a bit index: the filter has mask+1 bits
	capacity int64  // keys it holds at about 1% false "maybe"
	added    atomic.Int64
}

// Bloom filter parameters: 10 bits and 7 probes per key give about 1%
// false "maybe" at capacity. A filter holds four times the keys on disk
// when it is built (5 bytes a stored key), and at least minFilterKeys (80
// KiB), so that a rebuild, which reads every key, comes after three times
// as many puts as it reads.
const (
	filterBitsPerKey = 10
	filterProbes     = 7
	filterGrowth     = 4
	minFilterKeys    = 1 << 16
	// scanChunk is how many keys one read transaction of a build reads:
	// a long read transaction would keep the pages the writer frees
	// meanwhile from being reused.
	scanChunk = 16 << 10
	// rebuildAfterFailure is how long a failed build keeps the next away.
	rebuildAfterFailure = time.Minute
)

func newBloom(keys int64) *bloom {
	capacity := max(keys, minFilterKeys)
	n := uint64(1) << bits.Len64(uint64(capacity*filterBitsPerKey-1)) // bits, a power of two
	return &bloom{bits: make([]atomic.Uint64, n/64), mask: n - 1, capacity: capacity}
}

// probe returns the i-th bit of hash h (double hashing).
func (b *bloom) probe(h uint64, i uint64) (word int, bit uint64) {
	x := (h + i*(h>>32|1)) & b.mask
	return int(x / 64), 1 << (x % 64)
}

func (b *bloom) add(h uint64) {
	for i := range uint64(filterProbes) {
		w, bit := b.probe(h, i)
		if b.bits[w].Load()&bit == 0 {
			b.bits[w].Or(bit)
		}
	}
	b.added.Add(1)
}

func (b *bloom) has(h uint64) bool {
	for i := range uint64(filterProbes) {
		w, bit := b.probe(h, i)
		if b.bits[w].Load()&bit == 0 {
			return false
		}
	}
	return true
}

func newAbsentKeys() *absentKeys {
	return &absentKeys{seed: maphash.MakeSeed(), stop: make(chan struct{})}
}

// absent reports whether key is certainly not on disk.
func (a *absentKeys) absent(key string) bool {
	b := a.cur.Load()
	return b != nil && !b.has(maphash.String(a.seed, key))
}

// add records that key may be on disk from now on. The writer calls it,
// holding txMu, before the transaction that puts key commits.
func (a *absentKeys) add(key []byte) {
	h := maphash.Bytes(a.seed, key)
	a.mu.Lock()
	defer a.mu.Unlock()
	if b := a.cur.Load(); b != nil {
		b.add(h)
	}
	if a.next != nil {
		a.next.add(h)
	}
}

// maybeRebuild starts a build of the filter from d's keys when none is
// under way and the filter is full (or missing: none was built yet, or
// the last build failed a while ago). The caller holds txMu between
// transactions, or is openDisk before the writer starts.
func (a *absentKeys) maybeRebuild(d *disk) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.next != nil {
		return
	}
	cur := a.cur.Load()
	if cur != nil && cur.added.Load() < cur.capacity {
		return
	}
	if cur == nil && !a.failedAt.IsZero() && time.Since(a.failedAt) < rebuildAfterFailure {
		return
	}
	select {
	case <-a.stop:
		return
	default:
	}
	next := newBloom(filterGrowth * d.count.Load())
	a.next = next
	a.builds.Add(1)
	go a.build(d, next)
}

// build adds every key in d's file to next, then makes it the filter.
func (a *absentKeys) build(d *disk, next *bloom) {
	defer a.builds.Done()
	err := a.scan(d, next)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.next = nil
	if err != nil {
		// The filter stays as it was: still a superset of the disk's keys
		// (or none, and every Get reads the disk).
		a.failedAt = time.Now()
		if !errors.Is(err, errStopped) && !errors.Is(err, ErrClosed) {
			d.log.Warn("storage: building the filter of absent keys failed; lookups read the disk", "err", err)
		}
		return
	}
	a.cur.Store(next)
}

var errStopped = errors.New("storage: build stopped")

// scan adds the keys of d's file to b, scanChunk keys per read
// transaction. A key that is on disk from the scan's start to its end is
// seen by one of them; one put meanwhile is added by the writer.
func (a *absentKeys) scan(d *disk, b *bloom) error {
	var from []byte // the last key added; nil: start at the first
	for {
		select {
		case <-a.stop:
			return errStopped
		default:
		}
		var last []byte
		done := false
		err := d.view(func(tx *bolt.Tx) error {
			last, done = nil, false
			c := tx.Bucket(bucketEntries).Cursor()
			k, _ := c.First()
			if from != nil {
				if k, _ = c.Seek(from); bytes.Equal(k, from) {
					k, _ = c.Next()
				}
			}
			for n := 0; k != nil; k, _ = c.Next() {
				b.add(maphash.Bytes(a.seed, k))
				if n++; n == scanChunk {
					last = bytes.Clone(k)
					return nil
				}
			}
			done = true
			return nil
		})
		if err != nil {
			return closedErr(err)
		}
		if done {
			return nil
		}
		from = last
	}
}

// close ends a build under way at its next step, without waiting for it:
// a read transaction of a damaged file can hang for good (bbolt panicked
// holding its meta lock, and guard recovered: closeAside), and Close must
// not hang with it. A build that ends after Close finds the file closed
// and leaves the filter as it was.
func (a *absentKeys) close() {
	a.stopOnce.Do(func() { close(a.stop) })
}
