package edge

import (
	"sync"
	"time"
)

// maxVariants bounds the Vary variants stored per URL within variantWindow:
// an origin that varies on a field clients control (User-Agent, a cookie)
// would otherwise let one URL fill the cache with copies.
const (
	maxVariants   = 64
	variantWindow = 10 * time.Minute
)

// variantCounter remembers which variants of each URL were stored lately.
type variantCounter struct {
	mu   sync.Mutex // guards seen
	seen map[string]*variantSet
}

type variantSet struct {
	since time.Time
	keys  map[string]struct{}
}

// admit reports whether variant of primary may be stored at now.
func (v *variantCounter) admit(primary, variant string, now time.Time) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.seen == nil || len(v.seen) > 100_000 {
		v.seen = make(map[string]*variantSet) // bounded: start over rather than grow
	}
	s := v.seen[primary]
	if s == nil || now.Sub(s.since) > variantWindow {
		s = &variantSet{since: now, keys: make(map[string]struct{})}
		v.seen[primary] = s
	}
	if _, ok := s.keys[variant]; ok {
		return true
	}
	if len(s.keys) >= maxVariants {
		return false
	}
	s.keys[variant] = struct{}{}
	return true
}
