package storage

import (
	"strings"
	"time"
)

// matcher decides which keys and entries one invalidation (a Purge, Delete
// or DeletePrefix) covers. It is immutable once built.
type matcher struct {
	all      bool
	exact    map[string]struct{} // Delete: exactly these keys
	families map[string]struct{} // Purge.Keys: the key and every key+"\x00"... (its derivations, policy.Key)
	// few holds the families when there are at most fewFamilies: comparing
	// a handful of strings is cheaper than hashing every key a purge walks.
	few      []string
	prefixes []string
	tags     map[string]struct{}
	// at is when the invalidation was recorded (the store's clock).
	at time.Time
	// soft: it marks entries stale (Purge.Soft) rather than removing them;
	// timeless: without a StaleAt (Purge.NoStale).
	soft, timeless bool
}

func newMatcher(p Purge) *matcher {
	m := &matcher{all: p.All, prefixes: p.Prefixes, soft: p.Soft, timeless: p.Soft && p.NoStale}
	if len(p.Keys) > 0 {
		m.families = toSet(p.Keys)
	}
	if len(m.families) <= fewFamilies {
		for k := range m.families {
			m.few = append(m.few, k)
		}
	}
	for _, tag := range p.Tags {
		if tag == "" {
			continue // stored entries never carry the empty tag in the index
		}
		if m.tags == nil {
			m.tags = make(map[string]struct{})
		}
		m.tags[tag] = struct{}{}
	}
	return m
}

func toSet(keys []string) map[string]struct{} {
	set := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		set[k] = struct{}{}
	}
	return set
}

const fewFamilies = 16

// staleAt is the StaleAt the invalidation gives the entries it marks
// stale: its time for a soft purge; zero (never to be served stale) for a
// hard one, which leaves stale only entries whose fetch it overlapped, and
// for a soft one that stands in for purges that may have been hard.
func (m *matcher) staleAt() time.Time {
	if !m.soft || m.timeless {
		return time.Time{}
	}
	return m.at
}

// empty reports whether the matcher matches nothing.
func (m *matcher) empty() bool {
	return !m.all && len(m.exact) == 0 && len(m.families) == 0 && len(m.prefixes) == 0 && len(m.tags) == 0
}

// mayCover reports whether the invalidation may select an entry of the
// object whose primary key (a key up to its first NUL) is primary: one of
// its keys or their family is that object's, a prefix selects primary or
// one of its derived keys (primary+"\x00"...), or it selects by tag (which
// tags an object's entries carry is not known from its key) or
// everything. It never reports false for an invalidation that selects one
// of the object's keys: a fill of the object that began before it would
// then be joined after it (edge/flight.go). It is walked for every
// invalidation since a flight began, so the common matchers (a few
// families, a host's prefixes) cost no map iteration.
func (m *matcher) mayCover(primary string) bool {
	if m.all || len(m.tags) > 0 {
		return true
	}
	for k := range m.exact {
		if primaryOf(k) == primary {
			return true
		}
	}
	if m.few != nil {
		for _, f := range m.few {
			if primaryOf(f) == primary {
				return true
			}
		}
	} else {
		for f := range m.families {
			if primaryOf(f) == primary {
				return true
			}
		}
	}
	for _, p := range m.prefixes {
		// A prefix longer than primary selects one of its keys only if
		// it goes on with the NUL that ends primary in its derived keys
		// (primary holds none): "http://h/ab" selects nothing of
		// "http://h/a".
		if strings.HasPrefix(primary, p) || strings.HasPrefix(p, primary) && p[len(primary)] == 0 {
			return true
		}
	}
	return false
}

// primaryOf is k up to its first NUL: the primary key every key derived
// from it starts with.
func primaryOf(k string) string {
	if i := strings.IndexByte(k, 0); i >= 0 {
		return k[:i]
	}
	return k
}

// matchKey reports whether the key alone selects an entry stored under k.
func (m *matcher) matchKey(k string) bool {
	if m.all {
		return true
	}
	if len(m.exact) > 0 {
		if _, ok := m.exact[k]; ok {
			return true
		}
	}
	for _, f := range m.few {
		if strings.HasPrefix(k, f) && (len(k) == len(f) || k[len(f)] == 0) {
			return true
		}
	}
	if len(m.families) > fewFamilies {
		if _, ok := m.families[k]; ok {
			return true
		}
		// A variant key+"\x00"... belongs to the family of every prefix of
		// it that ends just before a NUL.
		for i := 0; i < len(k); i++ {
			if k[i] == 0 {
				if _, ok := m.families[k[:i]]; ok {
					return true
				}
			}
		}
	}
	for _, p := range m.prefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// match reports whether the invalidation covers e (by key or by tag).
func (m *matcher) match(e *Entry) bool {
	if m.matchKey(e.Key) {
		return true
	}
	if len(m.tags) == 0 {
		return false
	}
	for _, tag := range e.Tags {
		if _, ok := m.tags[tag]; ok {
			return true
		}
	}
	return false
}
