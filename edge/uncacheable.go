package edge

import (
	"sync"
	"time"
)

// uncacheableFor is how long a key whose response could not be stored is
// fetched without coalescing. Long enough to spare waiters a round trip on
// a busy uncacheable URL, short enough that a URL that becomes cacheable is
// coalesced again soon; a storable response ends it at once.
const uncacheableFor = 10 * time.Second

// maxUncacheable bounds the keys remembered, so that a flood of distinct
// uncacheable URLs cannot grow memory without limit.
const maxUncacheable = 1 << 16

// uncacheable remembers keys whose last response could not be stored (it was
// private, set a cookie, had no freshness...). Requests for them skip the
// shared flight: waiting for another client's response that cannot be shared
// would only add a round trip before fetching their own (Varnish calls this
// hit-for-miss). Each such request still runs the normal fill, so the first
// storable response is stored and clears the mark.
type uncacheable struct {
	mu    sync.Mutex // guards until
	until map[string]time.Time
}

func (u *uncacheable) marked(key string, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	t, ok := u.until[key]
	if ok && now.After(t) {
		delete(u.until, key)
		return false
	}
	return ok
}

func (u *uncacheable) mark(key string, now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.until == nil {
		u.until = make(map[string]time.Time)
	}
	if len(u.until) >= maxUncacheable {
		for k, t := range u.until {
			if now.After(t) || len(u.until) >= maxUncacheable {
				delete(u.until, k) // map order is random: an arbitrary victim
			}
		}
	}
	u.until[key] = now.Add(uncacheableFor)
}

func (u *uncacheable) clear(key string) {
	u.mu.Lock()
	delete(u.until, key)
	u.mu.Unlock()
}
