package ratelimit

import (
	"time"
)

// Usage is how many requests one client was admitted for by a shared
// Limiter since the last TakeUsage. Key is opaque: pass it to another
// node's Consume.
type Usage struct {
	Key string
	N   uint32
}

// Shared reports whether l counts its admissions for TakeUsage
// (Options.Shared).
func (l *Limiter) Shared() bool { return l.shards[0].used != nil }

// TakeUsage returns and forgets the admissions counted since the last call;
// nil unless Options.Shared. Each shard counts at most its share of
// MaxClients keys per period; admissions of further keys go unreported.
func (l *Limiter) TakeUsage() []Usage {
	var out []Usage
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		for k, n := range s.used {
			out = append(out, Usage{Key: k.encode(), N: n})
		}
		clear(s.used)
		s.mu.Unlock()
	}
	return out
}

// Consume takes n tokens from the bucket of the client key names (a Usage
// of another node), as if this node had admitted its requests: the
// fleet's use drains every node's bucket. The bucket may go into debt
// (later requests wait for it to refill), at most one burst's worth below
// empty, so that a burst of reports cannot lock a client out for longer
// than the budget it could have spent. A key this node cannot read is
// ignored.
func (l *Limiter) Consume(key string, n uint32, now time.Time) {
	k, ok := decodeKey(key)
	if !ok || n == 0 {
		return
	}
	s := l.shardOf(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.get(k, l.limit, l.burst)
	// Tokens can go down to -burst: ReserveN with n <= burst always
	// succeeds, and its delay says how deep the debt already is.
	take := int(min(n, uint32(l.burst)))
	debt := b.TokensAt(now)
	if debt-float64(take) < -float64(l.burst) {
		take = int(debt + float64(l.burst))
	}
	if take > 0 {
		b.ReserveN(now, take)
	}
}
