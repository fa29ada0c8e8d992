package edge

import (
	"hash/maphash"
	"sync"
	"time"
)

// Vary variants stored per URL are bounded (maxVariants): an origin that
// varies on a field clients control (User-Agent, Accept-Language, a
// cookie) would otherwise let one URL fill the cache with copies. When a
// URL has its maxVariants, a new variant takes the place of the least used
// one, never of one used more than itself: the uses of each variant (the
// request that stored it, its hits, and the misses of a variant not
// stored) are counted, and halve every variantHalfLife. So a client that
// sends made-up values (one use each) can replace only variants that no
// more than one request asked for lately, and a browser's new common value
// is stored on its first request (it replaces a one-use variant) or, when
// the URL's stored variants are each used more, once it has been asked for
// more than the least used of them. Before, the first 64 variants of a
// 10-minute window were stored and every other variant passed to the
// origin for the rest of the window: 64 made-up User-Agents kept a
// browser's new one from being cached.
//
// The bookkeeping is bounded: per URL, maxVariants stored variants (the
// key of each, to remove it from the store when it is replaced) and
// maxVariantCandidates counted ones (a hash and a count each); overall,
// maxVariantBytes across the URLs; past it, of the least recently used
// URLs, the one whose variants were used least lately is forgotten. A URL
// forgotten (or not yet seen since a restart, whose variants
// on disk are still served) starts over: the variants stored for it stay
// until they expire or the store evicts them, and up to maxVariants more
// may be stored, so forgetting loosens the bound and never refuses a
// variant.
const (
	maxVariants          = 64
	maxVariantCandidates = 64
	variantHalfLife      = 10 * time.Minute
	maxVariantBytes      = 64 << 20
	variantShards        = 16
	// forgetSample is how many of a shard's least recently used URLs are
	// weighed to choose the one forgotten (variantShard.forgettable).
	forgetSample = 8
	// variantUseBytes is what the bookkeeping of one variant costs beside
	// its key: its map slot and record.
	variantUseBytes = 64
)

// variantCounter counts the uses of the variants of each URL and decides
// which are stored. It is safe for concurrent use.
type variantCounter struct {
	once   sync.Once
	seed   maphash.Seed
	shards [variantShards]variantShard
	// limit replaces maxVariantBytes when not 0 (tests: to fill the
	// bookkeeping with few requests).
	limit int
}

// variantShard holds the URLs whose primary keys hash to it, most
// recently used first.
type variantShard struct {
	mu         sync.Mutex // guards the rest
	urls       map[string]*variantSet
	head, tail *variantSet // recency list: head most recent
	bytes      int
	limit      int // bytes: the shard's share of maxVariantBytes
}

// variantSet is the bookkeeping of one URL's variants.
type variantSet struct {
	primary    string
	aged       time.Time              // when the counts last halved
	stored     map[uint64]*variantUse // by hash of the variant key
	candidates map[uint64]*variantUse // counted, not stored; suffix ""
	bytes      int
	tick       uint64 // advanced by each use, for ties: the older use goes first
	prev, next *variantSet
}

// variantUse counts the uses of one variant. suffix is its key without the
// primary key (which every variant key starts with), for a stored one.
type variantUse struct {
	suffix string
	uses   uint32
	last   uint64 // the set's tick at its last use
}

func (v *variantCounter) shard(primary string) *variantShard {
	v.once.Do(func() {
		v.seed = maphash.MakeSeed()
		limit := v.limit
		if limit == 0 {
			limit = maxVariantBytes
		}
		for i := range v.shards {
			v.shards[i].limit = limit / variantShards
		}
	})
	return &v.shards[maphash.String(v.seed, primary)%variantShards]
}

func (v *variantCounter) hash(variant string) uint64 {
	return maphash.String(v.seed, variant)
}

// used counts a use of variant, a key of primary's that a request found
// stored (a hit, fresh or stale).
func (v *variantCounter) used(primary, variant string, now time.Time) {
	s := v.shard(primary)
	h := v.hash(variant)
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.set(primary, now)
	defer s.trim(set, now) // before the unlock: deferred calls run last first
	if u := set.stored[h]; u != nil {
		set.use(u)
		return
	}
	// Stored, but not by this counter (before a restart, or before the URL
	// was forgotten): tracked if there is room, else left to the store.
	if len(set.stored) < maxVariants {
		s.add(set, h, variant, set.takeCandidate(s, h)+1)
	}
}

// admit reports whether variant, a key of primary's that a fetch is about
// to store, may be stored at now; evict, when not empty, is the key of the
// variant it replaces, which the caller removes from the store. A variant
// already admitted stays admitted until it is replaced, and asking again
// counts nothing; a refused one is counted on each ask and may be admitted
// on a later one, so a fill that asks twice (as its head arrives and once
// it is whole) keeps its first answer (fetch.admitVariant).
func (v *variantCounter) admit(primary, variant string, now time.Time) (ok bool, evict string) {
	s := v.shard(primary)
	h := v.hash(variant)
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.set(primary, now)
	defer s.trim(set, now) // before the unlock: deferred calls run last first
	if set.stored[h] != nil {
		return true, ""
	}
	uses := set.takeCandidate(s, h) + 1
	if len(set.stored) < maxVariants {
		s.add(set, h, variant, uses)
		return true, ""
	}
	vh, victim := set.leastUsed(set.stored)
	if victim.uses > uses {
		// Every stored variant is used more: count this one, so that it
		// is stored once it is asked for as much.
		set.candidate(s, h, uses)
		return false, ""
	}
	delete(set.stored, vh)
	s.charge(set, -variantUseBytes-len(victim.suffix))
	set.candidate(s, vh, victim.uses) // its count is kept, should it come back
	s.add(set, h, variant, uses)
	return true, primary + victim.suffix
}

// replaced reports whether variant, a key of primary's that admit let a
// fill store, has been replaced since (by another fill's admit while this
// one's body arrived). The fill that stored it then removes it: else the
// store kept a variant the counter no longer tracks, one more than the cap
// for each such fill, and never replaced. A URL forgotten since is not
// known here: false, as forgetting loosens the cap.
func (v *variantCounter) replaced(primary, variant string) bool {
	s := v.shard(primary)
	h := v.hash(variant)
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.urls[primary]
	return set != nil && set.stored[h] == nil
}

// set returns primary's bookkeeping, made if needed, marked most recently
// used and aged to now. s.mu must be held.
func (s *variantShard) set(primary string, now time.Time) *variantSet {
	set := s.urls[primary]
	if set == nil {
		if s.urls == nil {
			s.urls = make(map[string]*variantSet)
		}
		set = &variantSet{primary: primary, aged: now,
			stored: make(map[uint64]*variantUse), candidates: make(map[uint64]*variantUse)}
		s.urls[primary] = set
		s.charge(set, len(primary)+variantUseBytes)
	} else {
		s.unlink(set)
	}
	set.next, set.prev = s.head, nil
	if s.head != nil {
		s.head.prev = set
	}
	s.head = set
	if s.tail == nil {
		s.tail = set
	}
	set.age(now)
	return set
}

// add records variant (hash h) as stored with uses. s.mu must be held.
func (s *variantShard) add(set *variantSet, h uint64, variant string, uses uint32) {
	set.tick++
	u := &variantUse{suffix: variant[min(len(set.primary), len(variant)):], uses: uses, last: set.tick}
	set.stored[h] = u
	s.charge(set, variantUseBytes+len(u.suffix))
}

// takeCandidate removes the counted variant h, if there is one, and
// returns its uses (0 if none).
func (set *variantSet) takeCandidate(s *variantShard, h uint64) uint32 {
	c := set.candidates[h]
	if c == nil {
		return 0
	}
	delete(set.candidates, h)
	s.charge(set, -variantUseBytes)
	return c.uses
}

// candidate counts uses of a variant that is not stored (hash h), in
// place of the least used candidate when there are as many as they may be.
func (set *variantSet) candidate(s *variantShard, h uint64, uses uint32) {
	if len(set.candidates) >= maxVariantCandidates {
		ch, _ := set.leastUsed(set.candidates)
		delete(set.candidates, ch)
		s.charge(set, -variantUseBytes)
	}
	set.tick++
	set.candidates[h] = &variantUse{uses: uses, last: set.tick}
	s.charge(set, variantUseBytes)
}

func (set *variantSet) use(u *variantUse) {
	set.tick++
	u.last = set.tick
	if u.uses < 1<<31 {
		u.uses++
	}
}

// leastUsed returns the variant of m with the fewest uses; of those, the
// one used longest ago. m is not empty.
func (set *variantSet) leastUsed(m map[uint64]*variantUse) (uint64, *variantUse) {
	var (
		bh  uint64
		min *variantUse
	)
	for h, u := range m {
		if min == nil || u.uses < min.uses || u.uses == min.uses && u.last < min.last {
			bh, min = h, u
		}
	}
	return bh, min
}

// age halves every count once per variantHalfLife since the last time, so
// that what was popular long ago gives way to what is asked for now.
func (set *variantSet) age(now time.Time) {
	if now.Before(set.aged) {
		set.aged = now // the clock went back: start the period again
		return
	}
	n := set.halvings(now)
	if n == 0 {
		return
	}
	set.aged = set.aged.Add(n * variantHalfLife)
	if n == 32 {
		set.aged = now
	}
	for _, m := range []map[uint64]*variantUse{set.stored, set.candidates} {
		for _, u := range m {
			u.uses >>= uint(n)
		}
	}
}

// halvings is how many times the counts halve from set.aged to now: 0 when
// now is before it, at most 32 (a uint32 count is 0 by then).
func (set *variantSet) halvings(now time.Time) time.Duration {
	return min(max(now.Sub(set.aged)/variantHalfLife, 0), 32)
}

// charge adds n bytes to set's cost and its shard's. s.mu must be held;
// the operation that charges trims the shard before it lets go of it.
func (s *variantShard) charge(set *variantSet, n int) {
	set.bytes += n
	s.bytes += n
}

// trim forgets URLs (never set, the one the operation at now is about)
// while the shard is over its share of maxVariantBytes: an operation adds
// a record or two, so the shard is over its share by as much at most, and
// only until the operation ends. s.mu must be held.
func (s *variantShard) trim(set *variantSet, now time.Time) {
	for s.bytes > s.limit {
		old := s.forgettable(set, now)
		if old == nil {
			return
		}
		s.unlink(old)
		delete(s.urls, old.primary)
		s.bytes -= old.bytes
	}
}

// forgettable returns the URL to forget to make room for set: of the
// forgetSample least recently used (never set), the one whose variants
// were used least lately, the least recent of those. Not simply the least
// recently used: forgetting a URL starts its counts over, and a client
// made any URL the least recently used with hits on variants of other
// URLs (one hit each, their keys long), then had a browser's popular
// variant, its count started over, replaced by values it sent a few times.
// The weights are compared as aged at now. s.mu must be held.
func (s *variantShard) forgettable(set *variantSet, now time.Time) *variantSet {
	var (
		best   *variantSet
		weight uint64
	)
	n := 0
	for c := s.tail; c != nil && n < forgetSample; c = c.prev {
		if c == set {
			continue
		}
		n++
		if w := c.weight(now); best == nil || w < weight {
			best, weight = c, w
		}
	}
	return best
}

// weight is the sum of the uses of set's variants as they would be aged
// at now.
func (set *variantSet) weight(now time.Time) uint64 {
	shift := set.halvings(now)
	var w uint64
	for _, m := range []map[uint64]*variantUse{set.stored, set.candidates} {
		for _, u := range m {
			w += uint64(u.uses >> uint(shift))
		}
	}
	return w
}

// unlink takes set out of the recency list. s.mu must be held.
func (s *variantShard) unlink(set *variantSet) {
	if set.prev != nil {
		set.prev.next = set.next
	} else if s.head == set {
		s.head = set.next
	}
	if set.next != nil {
		set.next.prev = set.prev
	} else if s.tail == set {
		s.tail = set.prev
	}
	set.prev, set.next = nil, nil
}
