package storage

import (
	"fmt"
	"sync/atomic"

	"github.com/dgraph-io/ristretto/v2"
)

// memory is the ristretto tier. ristretto applies Sets asynchronously and
// may drop or reject them; the Store's pending map covers that gap. idx
// indexes its values by key and tag for purges (see memIndex).
type memory struct {
	cache     *ristretto.Cache[string, *Entry]
	idx       *memIndex
	maxItem   int64 // larger entries stay out of memory
	evictions atomic.Uint64

	// Test hooks, set before the first Set: exitHook runs in ristretto's
	// OnExit before the index sees the value (a test can hold ristretto's
	// goroutine there); waitHook runs before set waits for a queued older
	// value of its key.
	exitHook func(*Entry)
	waitHook func()
}

func newMemory(budget int64) (*memory, error) {
	m := &memory{maxItem: budget / 4, idx: newMemIndex()}
	counters := max(budget/4096*10, 1e4) // ~10 counters per expected item of 4 KiB
	cache, err := ristretto.NewCache(&ristretto.Config[string, *Entry]{
		NumCounters:        counters,
		MaxCost:            budget,
		BufferItems:        64,
		IgnoreInternalCost: true,
		Metrics:            true, // resident key count for Stats
		// The callbacks run on ristretto's goroutine or inside its Set and
		// Del, sometimes under its own locks: they take no Store lock, only
		// the index's innermost one.
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

// set offers e to the memory tier. An entry too large for it removes any
// older value of its key instead, so memory never shadows a newer write.
// The caller holds e's stripe lock, so Sets of one key never overlap.
//
// ristretto updates a resident key in place, at once, but queues the Set of
// a key it does not hold and applies it later on its own goroutine (or
// rejects it). An older value of e's key still queued there would appear
// after set returned, until whatever set queued for e is applied: Get would
// return an older value than the caller's last Set (issue 11 §6). So when
// the index holds the key but ristretto does not (a Set or promotion of it
// is queued), set first waits for ristretto to apply its queue; then the
// key is either resident (updated in place below) or not held at all, and
// nothing older of it is left in flight.
func (m *memory) set(e *Entry) {
	if _, resident := m.cache.GetTTL(e.Key); !resident && m.idx.hasKey(e.Key) {
		if m.waitHook != nil {
			m.waitHook()
		}
		m.cache.Wait()
	}
	if !m.fits(e) {
		m.cache.Del(e.Key) // removes a resident older value at once
		return
	}
	m.idx.add(e) // before ristretto can hold e, so a resident e is indexed
	if !m.cache.Set(e.Key, e, e.Size()) {
		// Dropped (Set buffer full): ristretto never took e and will not
		// report it.
		m.idx.remove(e)
	}
}

// fits reports whether e is small enough for the memory tier.
func (m *memory) fits(e *Entry) bool { return e.Size() <= m.maxItem }

func (m *memory) del(keys []string) {
	for _, k := range keys {
		m.cache.Del(k)
	}
}

// deletePrefix removes every resident key with the prefix and returns them.
func (m *memory) deletePrefix(prefix string) []string {
	return m.deleteMatching(&matcher{prefixes: []string{prefix}})
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
