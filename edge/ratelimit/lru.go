package ratelimit

import (
	"sync"

	"golang.org/x/time/rate"
)

// shard is an LRU map from client to bucket. Lock order: shard.mu, then the
// rate.Limiter's own mutex (taken inside its methods).
type shard struct {
	mu   sync.Mutex // guards m, the list and used
	cap  int
	m    map[bucketKey]*entry
	head entry // sentinel: head.next is most recent, head.prev least recent
	// used counts the admissions per key since the last TakeUsage, when
	// the limiter is shared; at most cap keys, later ones go uncounted.
	used map[bucketKey]uint32
}

type entry struct {
	key        bucketKey
	lim        *rate.Limiter
	prev, next *entry
}

func (s *shard) init(capacity int, shared bool) {
	s.cap = capacity
	s.m = make(map[bucketKey]*entry, capacity)
	s.head.next, s.head.prev = &s.head, &s.head
	if shared {
		s.used = make(map[bucketKey]uint32)
	}
}

// count records one admission of key for TakeUsage. s.mu must be held.
func (s *shard) count(key bucketKey) {
	if s.used == nil {
		return
	}
	if _, ok := s.used[key]; ok || len(s.used) < s.cap {
		s.used[key]++
	}
}

// get returns key's bucket, creating it from limit and burst and evicting the least
// recently used entry when the shard is full. s.mu must be held.
func (s *shard) get(key bucketKey, limit rate.Limit, burst int) *rate.Limiter {
	if e, ok := s.m[key]; ok {
		s.unlink(e)
		s.pushFront(e)
		return e.lim
	}
	var e *entry
	if len(s.m) >= s.cap {
		// Reuse the evicted entry's memory for the newcomer.
		e = s.head.prev
		s.unlink(e)
		delete(s.m, e.key)
	} else {
		e = new(entry)
	}
	e.key, e.lim = key, rate.NewLimiter(limit, burst)
	s.m[key] = e
	s.pushFront(e)
	return e.lim
}

func (s *shard) unlink(e *entry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (s *shard) pushFront(e *entry) {
	e.prev, e.next = &s.head, s.head.next
	s.head.next.prev = e
	s.head.next = e
}
