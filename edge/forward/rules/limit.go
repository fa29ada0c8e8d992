package rules

import (
	"container/list"
	"context"
	"fmt"
	"io"
	"math"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"edged/internal/netaddr"
)

// limitSpec is a compiled Limits.
type limitSpec struct {
	byUser     bool
	rate       rate.Limit // requests/s; 0: none
	burst      int
	bw         rate.Limit // bytes/s per direction; 0: none
	bwBurst    int
	maxClients int
	idle       time.Duration
}

// minBandwidthBurst lets a limited stream move bytes in chunks of a
// useful size (io.Copy's buffer, and the proxy's, is 32 KiB) even when its
// rate is below that.
const minBandwidthBurst = 32 << 10

func compileLimits(p *problems, field string, l *Limits) limitSpec {
	s := limitSpec{maxClients: DefaultMaxClients, idle: DefaultIdle}
	switch l.Key {
	case "", KeyClient:
	case KeyUser:
		s.byUser = true
	default:
		p.add(field+".key", "%q: want client or user", l.Key)
	}
	switch {
	case l.Rate < 0 || math.IsNaN(l.Rate) || math.IsInf(l.Rate, 0):
		p.add(field+".rate", "%v: want requests per second, 0 for no limit", l.Rate)
	case l.Rate > 0:
		s.rate = rate.Limit(l.Rate)
		s.burst = max(1, int(math.Ceil(l.Rate)))
	}
	switch {
	case l.Burst < 0:
		p.add(field+".burst", "%d: want at least 1 (empty for max(1, rate))", l.Burst)
	case l.Burst > 0 && l.Rate == 0:
		p.add(field+".burst", "%d without a rate: set limits.rate too", l.Burst)
	case l.Burst > 0:
		s.burst = l.Burst
	}
	if l.Bandwidth != "" && l.Bandwidth != "0" {
		n, err := parseBytes(l.Bandwidth)
		if err != nil {
			p.add(field+".bandwidth", "%v", err)
		}
		// Up to one second of bytes may go at once, so the rate holds over
		// any second rather than per read.
		s.bw, s.bwBurst = rate.Limit(n), int(max(min(n, math.MaxInt32), minBandwidthBurst))
	}
	switch {
	case l.MaxClients < 0:
		p.add(field+".max_clients", "%d: want at least 1 (empty for %d)", l.MaxClients, DefaultMaxClients)
	case l.MaxClients > 0:
		s.maxClients = l.MaxClients
	}
	if l.Idle != "" {
		s.idle = positiveDuration(p, field+".idle", l.Idle)
	}
	return s
}

// clientKey is what one set of buckets is kept for: a user, or an
// address (an IPv6 client per /64, since one host commonly owns a whole
// /64 and could rotate through it).
type clientKey struct {
	addr netip.Addr
	user string
}

// bucket is one client's limiters.
type bucket struct {
	key  clientKey
	elem *list.Element
	req  *rate.Limiter // nil without a rate limit
	bw   *rate.Limiter // nil without a bandwidth limit
	last time.Time     // last request
}

// limiter keeps buckets per client with bounded memory: at most
// maxClients, the least recently seen dropped first, and buckets idle for
// longer than idle dropped as requests pass by. A dropped client comes
// back with full buckets, so the limit loosens, never tightens; a stream
// still holding a dropped client's bandwidth limiter keeps to it.
type limiter struct {
	spec limitSpec

	mu  sync.Mutex // guards m, lru and bucket.last
	m   map[clientKey]*bucket
	lru list.List // of *bucket; front is the most recent
}

func newLimiter(spec limitSpec) *limiter {
	l := &limiter{spec: spec, m: map[clientKey]*bucket{}}
	l.lru.Init()
	return l
}

func (l *limiter) on() bool { return l.spec.rate > 0 || l.spec.bw > 0 }

func (l *limiter) key(r *Request) clientKey {
	if l.spec.byUser && r.User != "" {
		return clientKey{user: r.User}
	}
	return clientKey{addr: netaddr.ClientNetwork(r.Client, 64)}
}

// take takes one request token from r's client at now; when it is over
// its rate, it returns false and how long until a token will be there. It
// returns the client's bandwidth limiter (nil when none).
func (l *limiter) take(r *Request, now time.Time) (bool, time.Duration, *rate.Limiter) {
	l.mu.Lock()
	b := l.get(l.key(r), now)
	l.mu.Unlock()
	if b.req == nil || b.req.AllowN(now, 1) {
		return true, 0, b.bw
	}
	// Refused: reserve only to learn the wait, then give the token back, so
	// refused requests do not deepen the client's debt.
	res := b.req.ReserveN(now, 1)
	d := res.DelayFrom(now)
	res.CancelAt(now)
	return false, max(d, time.Nanosecond), nil
}

// get returns k's bucket, marked as seen at now. l.mu must be held.
func (l *limiter) get(k clientKey, now time.Time) *bucket {
	l.sweep(now)
	if b, ok := l.m[k]; ok {
		b.last = now
		l.lru.MoveToFront(b.elem)
		return b
	}
	if len(l.m) >= l.spec.maxClients {
		l.drop(l.lru.Back().Value.(*bucket))
	}
	b := &bucket{key: k, last: now}
	if l.spec.rate > 0 {
		b.req = rate.NewLimiter(l.spec.rate, l.spec.burst)
	}
	if l.spec.bw > 0 {
		b.bw = rate.NewLimiter(l.spec.bw, l.spec.bwBurst)
	}
	b.elem = l.lru.PushFront(b)
	l.m[k] = b
	return b
}

// sweepBatch bounds the work one call does to drop idle buckets, so a
// request never pays for a long idle tail; the tail shrinks as requests
// pass.
const sweepBatch = 8

// sweep drops up to sweepBatch buckets idle for idle or longer from the
// back of the LRU list. l.mu must be held.
func (l *limiter) sweep(now time.Time) {
	for range sweepBatch {
		e := l.lru.Back()
		if e == nil {
			return
		}
		b := e.Value.(*bucket)
		if now.Sub(b.last) < l.spec.idle {
			return
		}
		l.drop(b)
	}
}

func (l *limiter) drop(b *bucket) {
	l.lru.Remove(b.elem)
	delete(l.m, b.key)
}

// len is the number of clients tracked.
func (l *limiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

// LimitReader wraps r so that reads keep to lim: a read returns at most
// lim's burst, and waits until the bytes it returned are within the rate,
// or ctx ends (then the error wraps ctx's). A nil lim returns r.
func LimitReader(ctx context.Context, lim *rate.Limiter, r io.Reader) io.Reader {
	if lim == nil {
		return r
	}
	return &limitedReader{ctx: ctx, r: r, lim: lim}
}

// LimitWriter wraps w so that writes keep to lim: each chunk of at most
// lim's burst waits for its bytes before it is written. A nil lim returns
// w. Flush an http.ResponseWriter through itself: the wrapper is a plain
// io.Writer.
func LimitWriter(ctx context.Context, lim *rate.Limiter, w io.Writer) io.Writer {
	if lim == nil {
		return w
	}
	return &limitedWriter{ctx: ctx, w: w, lim: lim}
}

type limitedReader struct {
	ctx context.Context
	r   io.Reader
	lim *rate.Limiter
}

func (lr *limitedReader) Read(p []byte) (int, error) {
	if b := lr.lim.Burst(); len(p) > b {
		p = p[:b] // WaitN refuses more than the burst
	}
	n, err := lr.r.Read(p)
	if n > 0 {
		if werr := lr.lim.WaitN(lr.ctx, n); werr != nil {
			return n, fmt.Errorf("rules: bandwidth wait: %w", werr)
		}
	}
	return n, err
}

type limitedWriter struct {
	ctx context.Context
	w   io.Writer
	lim *rate.Limiter
}

func (lw *limitedWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), lw.lim.Burst())]
		if err := lw.lim.WaitN(lw.ctx, len(chunk)); err != nil {
			return written, fmt.Errorf("rules: bandwidth wait: %w", err)
		}
		n, err := lw.w.Write(chunk)
		written += n
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}
