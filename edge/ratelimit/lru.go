package ratelimit

import (
	"net/netip"
	"sync"

	"golang.org/x/time/rate"
)

// shard is an LRU map from client to bucket. Lock order: shard.mu, then the
// rate.Limiter's own mutex (taken inside its methods).
type shard struct {
	mu   sync.Mutex // guards m and the list
	cap  int
	m    map[netip.Addr]*entry
	head entry // sentinel: head.next is most recent, head.prev least recent
}

type entry struct {
	key        netip.Addr
	lim        *rate.Limiter
	prev, next *entry
}

func (s *shard) init(capacity int) {
	s.cap = capacity
	s.m = make(map[netip.Addr]*entry, capacity)
	s.head.next, s.head.prev = &s.head, &s.head
}

// get returns key's bucket, creating it from limit and burst and evicting the least
// recently used entry when the shard is full. s.mu must be held.
func (s *shard) get(key netip.Addr, limit rate.Limit, burst int) *rate.Limiter {
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
