package storage

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// touches holds the LRU touches of hits until the writer commits them (at
// most touchDelay later, or with its next batch). A hit adds its key under
// one stripe's lock and nothing else: no queue operation, and no wake of
// the writer goroutine but for a node's first touch after a commit. Queued
// one per hit, a hot body file's memory hits (every one touches, so that
// the disk's LRU sees them) cost a channel send and a wake of the writer
// each, and disk hits filled the queue the Sets need.
type touches struct {
	seed    maphash.Seed
	stripes [touchStripes]touchStripe
	held    atomic.Int64 // distinct keys held, across stripes
}

// touchStripes spreads the hits' adds over locks.
const touchStripes = 16

type touchStripe struct {
	mu   sync.Mutex
	keys []string            // in first-touch order
	seen map[string]struct{} // keys, for dedup
}

func newTouches() *touches { return &touches{seed: maphash.MakeSeed()} }

// add holds key's touch, once however often it is touched before the next
// take, and returns how many keys are held, or 0 when key was not taken
// because maxHeldTouches are held already (touches are a hint).
func (t *touches) add(key string) int64 {
	if n := t.held.Load(); n >= maxHeldTouches {
		return 0
	}
	s := &t.stripes[maphash.String(t.seed, key)%touchStripes]
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.seen[key]; ok {
		return t.held.Load()
	}
	if s.seen == nil {
		s.seen = make(map[string]struct{})
	}
	s.seen[key] = struct{}{}
	s.keys = append(s.keys, key)
	return t.held.Add(1)
}

// take returns the held keys and holds none from then on. Keys of one
// stripe keep their first-touch order; recency across a second is a hint.
func (t *touches) take() []string {
	if t.held.Load() == 0 {
		return nil
	}
	var keys []string
	for i := range t.stripes {
		s := &t.stripes[i]
		s.mu.Lock()
		if len(s.keys) > 0 {
			keys = append(keys, s.keys...)
			t.held.Add(-int64(len(s.keys)))
			s.keys, s.seen = nil, nil
		}
		s.mu.Unlock()
	}
	return keys
}
