package ratelimit

import (
	"cmp"
	"errors"
	"math"
	"net/netip"
	"time"

	"golang.org/x/time/rate"

	"edged/internal/fielderr"
	"edged/internal/netaddr"
)

// ErrInvalidOptions is wrapped by New errors, which name the field.
var ErrInvalidOptions = errors.New("ratelimit: invalid options")

// DefaultMaxClients is the number of tracked clients when
// Options.MaxClients is zero.
const DefaultMaxClients = 100_000

// DefaultIPv6PrefixLen is the IPv6 network length tracked as one client when
// Options.IPv6PrefixLen is zero.
const DefaultIPv6PrefixLen = 64

// Options configure a Limiter. New gives a zero MaxClients or IPv6PrefixLen
// the default named on it ([DefaultOptions]); Rate and Burst have none.
type Options struct {
	// Rate is the sustained number of requests per second per client; it
	// must be positive.
	Rate float64
	// Burst is how many requests a client may make at once; it must be at
	// least 1.
	Burst int
	// MaxClients bounds the number of tracked clients. Default
	// DefaultMaxClients.
	MaxClients int
	// IPv6PrefixLen is the IPv6 network length that counts as one client,
	// 1 to 128 (every address on its own). Default DefaultIPv6PrefixLen.
	IPv6PrefixLen int
	// Shared counts admissions per key for TakeUsage, so that a fleet can
	// share the budget (see the package doc).
	Shared bool
}

// DefaultOptions returns the values New gives the fields of Options left
// zero; Rate and Burst are the caller's.
func DefaultOptions() Options { return Options{}.withDefaults() }

// withDefaults returns o with zero fields replaced by their defaults: the
// one place that knows them.
func (o Options) withDefaults() Options {
	o.MaxClients = cmp.Or(o.MaxClients, DefaultMaxClients)
	o.IPv6PrefixLen = cmp.Or(o.IPv6PrefixLen, DefaultIPv6PrefixLen)
	return o
}

// Validate reports every field of o that is out of range, each a
// [*fielderr.Error] naming the field and wrapping ErrInvalidOptions,
// joined. It takes the fields as given, zero included.
func (o Options) Validate() error {
	var l fielderr.List
	if !(o.Rate > 0) || math.IsInf(o.Rate, 0) {
		l.Wrapf("Rate", ErrInvalidOptions, "must be a positive number of requests per second, got %v", o.Rate)
	}
	atLeastOne(&l, "Burst", o.Burst)
	atLeastOne(&l, "MaxClients", o.MaxClients)
	if o.IPv6PrefixLen < 1 || o.IPv6PrefixLen > 128 {
		l.Wrapf("IPv6PrefixLen", ErrInvalidOptions, "must be 1 to 128, got %d", o.IPv6PrefixLen)
	}
	return l.Err()
}

// atLeastOne checks a count that must be at least 1.
func atLeastOne(l *fielderr.List, path string, n int) {
	if n < 0 {
		l.Wrapf(path, ErrInvalidOptions, "must not be negative, got %d", n)
	} else if n == 0 {
		l.Wrapf(path, ErrInvalidOptions, "must be at least 1, got 0")
	}
}

// Limiter is a set of per-client token buckets with LRU eviction.
type Limiter struct {
	limit  rate.Limit
	burst  int
	v6bits int
	shards []shard
}

// New returns a Limiter for opts.
func New(opts Options) (*Limiter, error) {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return nil, fielderr.Prefix("ratelimit: option ", err)
	}
	n := shardCount(opts.MaxClients)
	l := &Limiter{
		limit:  rate.Limit(opts.Rate),
		burst:  opts.Burst,
		v6bits: opts.IPv6PrefixLen,
		shards: make([]shard, n),
	}
	// Capacities sum to exactly MaxClients, so the bound holds globally.
	for i := range l.shards {
		c := opts.MaxClients / n
		if i < opts.MaxClients%n {
			c++
		}
		l.shards[i].init(c, opts.Shared)
	}
	return l, nil
}

// shardCount spreads lock contention over up to 64 shards while keeping
// each shard big enough that LRU order stays meaningful.
func shardCount(maxClients int) int {
	n := 1
	for n < 64 && maxClients/(n*2) >= 256 {
		n *= 2
	}
	return n
}

// Allow takes one token from client's bucket at now. When none is left it
// returns false and how long until one will be.
func (l *Limiter) Allow(client netip.Addr, now time.Time) (ok bool, retryAfter time.Duration) {
	return l.allow(bucketKey{addr: l.normalize(client)}, now)
}

// AllowKey is Allow for a client known by name rather than address:
// kind says what the name is (KindSubject, KindAPIKey, KindHeader, KindBasic), so
// that names of different kinds never share a bucket.
func (l *Limiter) AllowKey(kind Kind, name string, now time.Time) (ok bool, retryAfter time.Duration) {
	return l.allow(nameKey(kind, name), now)
}

func (l *Limiter) allow(key bucketKey, now time.Time) (bool, time.Duration) {
	s := l.shardOf(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.get(key, l.limit, l.burst)
	if b.AllowN(now, 1) {
		s.count(key)
		return true, 0
	}
	// Refused: reserve only to learn the wait, then give the token back so
	// that refused requests do not deepen the client's debt.
	r := b.ReserveN(now, 1)
	d := r.DelayFrom(now)
	r.CancelAt(now)
	return false, max(d, time.Nanosecond)
}

// Len returns the number of clients currently tracked.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// normalize turns a client address into what is limited as one client.
func (l *Limiter) normalize(a netip.Addr) netip.Addr {
	return netaddr.ClientNetwork(a, l.v6bits)
}

func (l *Limiter) shardOf(k bucketKey) *shard {
	return &l.shards[shardIndex(k, len(l.shards))]
}

// shardIndex hashes the key's bytes (FNV-1a).
func shardIndex(k bucketKey, n int) int {
	if n == 1 {
		return 0
	}
	h := uint32(2166136261)
	mix := func(c byte) {
		h ^= uint32(c)
		h *= 16777619
	}
	mix(byte(k.kind))
	for _, c := range k.addr.As16() {
		mix(c)
	}
	for i := 0; i < len(k.name); i++ {
		mix(k.name[i])
	}
	return int(h % uint32(n))
}
