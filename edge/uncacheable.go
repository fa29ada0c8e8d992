package edge

import (
	"container/list"
	"hash/maphash"
	"sync"
	"time"
)

// uncacheableFor is how long a key whose response could not be stored is
// fetched without coalescing. Long enough to spare waiters a round trip on
// a busy uncacheable URL, short enough that a URL that becomes cacheable is
// coalesced again soon; a storable response ends it at once.
const uncacheableFor = 10 * time.Second

// tooLargeFor is how long a key whose fill was past MaxObjectBytes has its
// ranges sent upstream as asked: a video player seeking in a file too
// large to store would otherwise get, and make the origin send, the whole
// object for each seek. A fill that stores the key ends it at once.
const tooLargeFor = 10 * time.Minute

// maxUncacheable bounds the keys remembered, so that a flood of distinct
// uncacheable URLs cannot grow memory without limit.
const maxUncacheable = 1 << 16

// uncacheable remembers keys whose last response could not be stored (it was
// private, set a cookie, had no freshness...). Requests for them skip the
// shared flight: waiting for another client's response that cannot be shared
// would only add a round trip before fetching their own (Varnish calls this
// hit-for-miss). Each such request still runs the normal fill, so the first
// storable response is stored and clears the mark.
//
// Every mark lasts uncacheableFor from the time it is set, so the list kept
// in marking order is also in expiry order: the oldest mark is the first to
// expire and the one to forget when the set is full. Every operation costs
// a map lookup and a few pointer moves whatever the size, so a flood of
// distinct uncacheable URLs cannot make the lock a bottleneck for misses (a
// scan of a full map used to take milliseconds under it).
//
// A mark keeps a 64-bit hash of its key (under a seed made per set), never
// the key: a key is as long as a request target may be (64 KiB by
// default), and a set of whole keys held up to 4 GiB outside every budget
// of cache.memory. Two keys that hash alike share a mark, which costs only
// a fetch without coalescing (uncacheable) or a range sent upstream as
// asked (tooLarge), never a wrong response; with a random seed no client
// can choose such keys.
type uncacheable struct {
	max   int           // the keys remembered at most; 0 means maxUncacheable
	lasts time.Duration // how long a mark lasts; 0 means uncacheableFor

	mu    sync.Mutex // guards seed, keys and order
	seed  maphash.Seed
	keys  map[uint64]*list.Element
	order list.List // of *uncacheableMark, most recently marked at the front
}

type uncacheableMark struct {
	key   uint64 // hash of the storage key
	until time.Time
}

// hash is key's hash under u's seed, made by the first mark. u.mu must be
// held.
func (u *uncacheable) hash(key string) uint64 {
	if u.keys == nil {
		u.seed = maphash.MakeSeed()
		u.keys = make(map[uint64]*list.Element)
	}
	return maphash.String(u.seed, key)
}

func (u *uncacheable) marked(key string, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	e, ok := u.keys[u.hash(key)]
	if !ok {
		return false
	}
	if now.After(e.Value.(*uncacheableMark).until) {
		u.remove(e)
		return false
	}
	return true
}

func (u *uncacheable) mark(key string, now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	lasts := u.lasts
	if lasts <= 0 {
		lasts = uncacheableFor
	}
	until := now.Add(lasts)
	k := u.hash(key)
	if e, ok := u.keys[k]; ok {
		e.Value.(*uncacheableMark).until = until
		u.order.MoveToFront(e)
		return
	}
	// Forget what has expired from the back, at most two marks per call so
	// the cost stays constant (each mark adds one), then the oldest mark if
	// the set is still full.
	for range 2 {
		if back := u.order.Back(); back != nil && now.After(back.Value.(*uncacheableMark).until) {
			u.remove(back)
		}
	}
	if u.order.Len() >= u.limit() {
		u.remove(u.order.Back())
	}
	u.keys[k] = u.order.PushFront(&uncacheableMark{key: k, until: until})
}

func (u *uncacheable) clear(key string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if e, ok := u.keys[u.hash(key)]; ok {
		u.remove(e)
	}
}

func (u *uncacheable) limit() int {
	if u.max > 0 {
		return u.max
	}
	return maxUncacheable
}

// remove forgets e. u.mu must be held.
func (u *uncacheable) remove(e *list.Element) {
	delete(u.keys, u.order.Remove(e).(*uncacheableMark).key)
}
