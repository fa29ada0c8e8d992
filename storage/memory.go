package storage

import (
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// memory is the ristretto tier. ristretto applies Sets asynchronously and
// may drop or reject them; the writer's pending map covers that gap. idx
// indexes its values by key and tag for purges (see memIndex).
//
// Every write of the tier goes through it in order: a Set, the promotion
// of a disk hit, the stale copy a soft purge puts in place (under the
// key's stripe lock), and a purge's removal (after it moves purgeEpoch).
// A disk hit is promoted only if no purge (purgeEpoch) and no Set of its
// key (its stripe's epoch) happened since the Get began, so a promotion
// never resurrects a purged entry nor hides a newer one.
type memory struct {
	cache     *ristretto.Cache[string, *Entry]
	idx       *memIndex
	maxItem   int64 // larger entries stay out of memory
	budget    int64 // the tier's size in bytes of Entry.Size (ristretto's MaxCost)
	evictions atomic.Uint64

	seed    maphash.Seed
	stripes [keyStripes]stripe
	// purgeMu guards the moves of purgeEpoch: held for writing while a
	// purge moves it, for reading by a promotion across its check of the
	// epoch and its write, so that the two never interleave.
	purgeMu    sync.RWMutex
	purgeEpoch atomic.Uint64

	// Test hooks, set before the first Set: exitHook runs in ristretto's
	// OnExit before the index sees the value (a test can hold ristretto's
	// goroutine there); waitHook runs before put waits for a queued older
	// value of its key.
	exitHook func(*Entry)
	waitHook func()
}

// keyStripes is the number of per-key lock stripes ordering Sets against
// promotions of disk hits.
const keyStripes = 64

// stripe orders the memory-tier writes of the keys hashing to it.
type stripe struct {
	mu    sync.Mutex // guards the memory-tier writes of keys of this stripe
	epoch atomic.Uint64
}

// ticket is what a Get saw before it read the disk: the key's stripe and
// both epochs, tested again before its hit is promoted.
type ticket struct {
	st           *stripe
	purges, sets uint64
}

func newMemory(budget int64) (*memory, error) {
	m := &memory{maxItem: budget / 4, budget: budget, idx: newMemIndex(), seed: maphash.MakeSeed()}
	counters := max(budget/4096*10, 1e4) // ~10 counters per expected item of 4 KiB
	cache, err := ristretto.NewCache(&ristretto.Config[string, *Entry]{
		NumCounters:        counters,
		MaxCost:            budget,
		BufferItems:        64,
		IgnoreInternalCost: true,
		Metrics:            true, // resident key count for Stats
		// The callbacks run on ristretto's goroutine or inside its Set and
		// Del, sometimes under its own locks: they take no lock but the
		// index's (innermost: see Store).
		OnEvict: func(*ristretto.Item[*Entry]) { m.evictions.Add(1) },
		// OnExit reports every value leaving the cache: evicted, rejected
		// by admission (both also reach OnExit), replaced by a Set of its
		// key, or deleted. It is called with nil when a Del finds nothing.
		OnExit: func(e *Entry) {
			if m.exitHook != nil {
				m.exitHook(e)
			}
			m.idx.remove(e)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("memory tier: %w", err)
	}
	m.cache = cache
	return m, nil
}

// get returns the entry stored under key (checking the key itself guards
// against a 128-bit hash collision).
func (m *memory) get(key string) (*Entry, bool) {
	e, ok := m.cache.Get(key)
	if !ok || e == nil || e.Key != key {
		return nil, false
	}
	return e, true
}

func (m *memory) stripe(key string) *stripe {
	return &m.stripes[maphash.String(m.seed, key)%keyStripes]
}

// set stores e, then calls queue (the disk write: Get reads the pending
// map after memory), holding e's stripe lock across both, so that memory
// and the disk queue see Sets of a key in the same order. The stripe's
// epoch moves once queue has run; see ticket and promote.
func (m *memory) set(e *Entry, queue func(*Entry)) {
	st := m.stripe(e.Key)
	st.mu.Lock()
	defer st.mu.Unlock()
	m.put(e)
	queue(e)
	st.epoch.Add(1) // after the pending map holds e; see ticket
}

// ticket reads the epochs of key, before a Get reads the pending map and
// the disk: a Set that lands after this point either is seen by them or
// moves its stripe's epoch.
func (m *memory) ticket(key string) ticket {
	st := m.stripe(key)
	return ticket{st: st, purges: m.purgeEpoch.Load(), sets: st.epoch.Load()}
}

// promote puts a disk hit into memory unless a purge or a Set of its key
// happened since t was taken.
func (m *memory) promote(e *Entry, t ticket) {
	if !m.fits(e) {
		return // memory cannot hold an older value either: Get would have returned it
	}
	m.purgeMu.RLock()
	defer m.purgeMu.RUnlock()
	t.st.mu.Lock()
	defer t.st.mu.Unlock()
	if m.purgeEpoch.Load() == t.purges && t.st.epoch.Load() == t.sets {
		m.put(e)
	}
}

// put offers e to the memory tier. An entry too large for it removes any
// older value of its key instead, so memory never shadows a newer write.
// The caller holds e's stripe lock, so writes of one key never overlap.
//
// ristretto updates a resident key in place, at once, but queues the Set of
// a key it does not hold and applies it later on its own goroutine (or
// rejects it). An older value of e's key still queued there would appear
// after set returned, until whatever set queued for e is applied: Get would
// return an older value than the caller's last Set (issue 11 §6). So when
// the index holds the key but ristretto does not (a Set or promotion of it
// is queued), put first waits for ristretto to apply its queue; then the
// key is either resident (updated in place below) or not held at all, and
// nothing older of it is left in flight.
//
// The index is asked once: add reports whether it held the key already, so
// a key it never held (a miss's Set, a first promotion) costs no lookup of
// ristretto's map nor a second walk of the index (3% of the node's CPU
// under misses: BenchmarkMemorySetNewKey). Waiting after add rather than
// before changes nothing: add only counts e in, and what the wait lets
// ristretto apply only counts older values out.
func (m *memory) put(e *Entry) {
	if !m.fits(e) {
		m.settle(e.Key)
		m.cache.Del(e.Key) // removes a resident older value at once
		return
	}
	// Before ristretto can hold e, so a resident e is indexed.
	if held := m.idx.add(e); held {
		m.settleHeld(e.Key)
	}
	if !m.cache.Set(e.Key, e, e.Size()) {
		// Dropped (Set buffer full): ristretto never took e and will not
		// report it.
		m.idx.remove(e)
	}
}

// settle waits for ristretto to apply its queue when a Set or promotion of
// key may be in it (see put).
func (m *memory) settle(key string) {
	if m.idx.hasKey(key) {
		m.settleHeld(key)
	}
}

// settleHeld is settle for a key the index holds (or held before the
// caller's add): ristretto's queue holds a value of it unless the key is
// resident.
func (m *memory) settleHeld(key string) {
	if _, resident := m.cache.GetTTL(key); !resident {
		if m.waitHook != nil {
			m.waitHook()
		}
		m.cache.Wait()
	}
}

// fits reports whether e is small enough for the memory tier.
func (m *memory) fits(e *Entry) bool { return e.Size() <= m.maxItem }

func (m *memory) del(keys []string) {
	for _, k := range keys {
		m.cache.Del(k)
	}
}

// purged runs del once pending writes and disk no longer hold the purged
// keys (the caller purged them first). The order matters: a Get that read
// the disk before then either promotes before the epoch moves (and del,
// queued after it, removes the promoted copy) or sees the epoch moved and
// does not promote; a Get that reads the disk later finds nothing.
func (m *memory) purged(del func() []string) []string {
	m.purgeMu.Lock()
	m.purgeEpoch.Add(1)
	m.purgeMu.Unlock()
	keys := del()
	m.wait() // queued Dels applied: nothing buffered can resurrect a key
	return keys
}

// deleteKeys removes keys (see purged).
func (m *memory) deleteKeys(keys []string) {
	m.purged(func() []string { m.del(keys); return keys })
}

// deletePrefix removes every resident key with the prefix and returns them
// (see purged).
func (m *memory) deletePrefix(prefix string) []string {
	return m.purged(func() []string { return m.deleteMatching(&matcher{prefixes: []string{prefix}}) })
}

// purge applies mt (see purged): hard deletes, soft replaces each matching
// entry by a stale copy unless a Set replaced it meanwhile. It returns the
// keys it matched.
func (m *memory) purge(mt *matcher, soft bool) []string {
	return m.purged(func() []string {
		if !soft {
			return m.deleteMatching(mt)
		}
		found := m.matching(mt)
		keys := make([]string, len(found))
		for i, e := range found {
			keys[i] = e.Key
			if e.markedStale(mt.staleAt()) != e {
				m.replaceStale(e, mt.staleAt())
			}
		}
		return keys
	})
}

// replaceStale replaces e by a copy marked stale since at if e is still the
// resident value of its key. The stripe lock orders it with Sets of the
// key.
func (m *memory) replaceStale(e *Entry, at time.Time) {
	st := m.stripe(e.Key)
	st.mu.Lock()
	defer st.mu.Unlock()
	if cur, ok := m.get(e.Key); ok && cur == e {
		m.put(e.markedStale(at))
	}
}

// setAside is set for an entry whose body is going to a file of its own:
// the memory tier does not hold its bytes (the pending map serves it until
// the write lands, then adopt takes the copy that names the file). Any
// older value of its key is removed, so memory never shadows this write.
func (m *memory) setAside(e *Entry, queue func(*Entry)) {
	st := m.stripe(e.Key)
	st.mu.Lock()
	defer st.mu.Unlock()
	m.settle(e.Key)
	m.cache.Del(e.Key)
	queue(e)
	st.epoch.Add(1)
}

// adopt puts f, the copy of e that names its body file, into memory if e
// is still the latest write of its key (latest reads the pending map,
// which a Set of the key updates under the same stripe lock). The memory
// tier then keeps the metadata and the page cache the bytes.
func (m *memory) adopt(e, f *Entry, latest func(key string) *Entry) {
	st := m.stripe(e.Key)
	st.mu.Lock()
	defer st.mu.Unlock()
	if latest(e.Key) == e {
		m.put(f)
	}
}

// keys returns the keys of the resident entries mt matches.
func (m *memory) keys(mt *matcher) []string {
	var keys []string
	for _, e := range m.matching(mt) {
		keys = append(keys, e.Key)
	}
	return keys
}

// deleteMatching removes every resident entry mt selects and returns
// their keys.
func (m *memory) deleteMatching(mt *matcher) []string {
	found := m.matching(mt)
	keys := make([]string, 0, len(found))
	seen := make(map[string]struct{}, len(found))
	for _, e := range found {
		if _, dup := seen[e.Key]; !dup {
			seen[e.Key] = struct{}{}
			keys = append(keys, e.Key)
		}
	}
	m.del(keys)
	return keys
}

// matching returns the entries mt selects. Queued Sets are applied first, so
// that none is missed and the index no longer holds values they replaced.
// All walks the resident values (O(entries in memory): it touches them all
// anyway); the others ask the index (O(log n) per key, prefix or tag, plus
// the matches), which may add a value that a concurrent Set is replacing.
func (m *memory) matching(mt *matcher) []*Entry {
	m.cache.Wait()
	if !mt.all {
		return m.idx.lookup(mt)
	}
	var found []*Entry
	m.cache.IterValues(func(e *Entry) bool {
		if e != nil {
			found = append(found, e)
		}
		return false
	})
	return found
}

// wait blocks until queued Sets and Dels have been applied.
func (m *memory) wait() { m.cache.Wait() }

func (m *memory) close() { m.cache.Close() }

// stats returns resident entries and their cost in bytes.
func (m *memory) stats() (entries, bytes int64) {
	entries = int64(m.cache.Metrics.KeysAdded()) - int64(m.cache.Metrics.KeysEvicted())
	return entries, m.cache.MaxCost() - m.cache.RemainingCost()
}
