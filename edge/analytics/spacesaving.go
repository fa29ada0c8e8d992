package analytics

import "container/heap"

// summary is a space-saving top-k summary over keys of type K: at most k
// counters; a new key takes the place of the least counted one and
// inherits its count as its error.
type summary[K comparable] struct {
	k     int
	index map[K]*counter[K]
	heap  counterHeap[K] // min-heap by count
}

type counter[K comparable] struct {
	key   K
	count uint64
	err   uint64 // the count it inherited: count-err is a lower bound
	pos   int    // index in the heap
}

func newSummary[K comparable](k int) *summary[K] {
	return &summary[K]{k: k, index: make(map[K]*counter[K], k)}
}

// add counts one occurrence of key. clone makes the key fit to keep (a
// bounded copy) and is called only when a new key is stored.
func (s *summary[K]) add(key K, clone func(K) K) {
	if c, ok := s.index[key]; ok {
		c.count++
		heap.Fix(&s.heap, c.pos)
		return
	}
	if len(s.heap) < s.k {
		c := &counter[K]{key: clone(key), count: 1}
		s.index[c.key] = c
		heap.Push(&s.heap, c)
		return
	}
	// Replace the minimum: the new key may have occurred up to min times
	// before, unseen.
	c := s.heap[0]
	delete(s.index, c.key)
	c.key, c.err = clone(key), c.count
	c.count++
	s.index[c.key] = c
	heap.Fix(&s.heap, 0)
}

type counterHeap[K comparable] []*counter[K]

func (h counterHeap[K]) Len() int           { return len(h) }
func (h counterHeap[K]) Less(i, j int) bool { return h[i].count < h[j].count }
func (h counterHeap[K]) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].pos, h[j].pos = i, j
}
func (h *counterHeap[K]) Push(x any) {
	c := x.(*counter[K])
	c.pos = len(*h)
	*h = append(*h, c)
}
func (h *counterHeap[K]) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}
