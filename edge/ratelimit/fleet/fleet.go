// Package fleet shares rate-limit budgets between edged nodes over a
// publish-subscribe connection (the purge bus's NATS).
//
// # Contract
//
// Each node keeps its own token buckets ([ratelimit.Limiter] with Shared).
// Every Interval a [Sharer] publishes, on Subject, what each of its
// limiters admitted per key since the last report ([ratelimit.Limiter.TakeUsage]),
// and takes what the other nodes report from its own buckets of the same
// limiter name and key ([ratelimit.Limiter.Consume]). A client spread over
// the fleet thus spends about one budget.
//
// It is an approximation, by design cheaper than a central counter on
// every request: a node learns of the others' use one Interval late (plus
// the bus's latency), so per key the fleet may admit up to
// rate × nodes × Interval more than the budget, and one burst per node
// before the first reports arrive. Reports lost while the connection is
// down are not resent: the limit is per node until it is back. Every
// message is at most maxUsesPerMessage uses; a node reports at most its
// limiters' MaxClients keys per Interval.
//
// Any client of the bus can publish reports, so one that may publish on
// Subject can spend other clients' budgets: the bus must be as trusted as
// it is for purges.
package fleet

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"edged/edge/ratelimit"
)

// Conn is the part of a pub-sub connection a Sharer uses; [NATS] adapts a
// *nats.Conn.
type Conn interface {
	// Publish sends data on subject, without waiting for receivers.
	Publish(subject string, data []byte) error
	// Subscribe calls handle with each message on subject until stop.
	Subscribe(subject string, handle func(data []byte)) (stop func() error, err error)
}

// Defaults of Options.
const (
	DefaultSubject  = "edged.ratelimit"
	DefaultInterval = 200 * time.Millisecond
)

// maxUsesPerMessage keeps a report far below NATS's default 1 MiB payload
// limit (a use is at most about 120 bytes of JSON).
const maxUsesPerMessage = 4000

// Options configure a Sharer.
type Options struct {
	// Conn carries the reports; required.
	Conn Conn
	// Limiters are the shared limiters by name; a name means the same
	// route on every node. Replace them with SetLimiters.
	Limiters map[string]*ratelimit.Limiter
	// Subject of the reports. Default DefaultSubject.
	Subject string
	// Interval between reports. Default DefaultInterval.
	Interval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives publish failures; nil discards them.
	Logger *slog.Logger
}

// Sharer publishes this node's use and applies the other nodes'.
type Sharer struct {
	conn     Conn
	subject  string
	interval time.Duration
	now      func() time.Time
	log      *slog.Logger
	instance string // random: its own reports come back and are skipped

	mu       sync.Mutex // guards limiters
	limiters map[string]*ratelimit.Limiter

	applied atomic.Uint64 // requests of other nodes taken from our buckets
	stop    func() error
	cancel  context.CancelFunc
	done    chan struct{}
}

// report is one message: the uses of one node since its last report.
type report struct {
	Node     string           `json:"node"`
	Limiters map[string][]use `json:"limiters"`
}

type use struct {
	Key []byte `json:"k"` // opaque ratelimit key, binary (base64 in JSON)
	N   uint32 `json:"n"`
}

// New subscribes to the other nodes' reports and starts publishing this
// node's every Interval until Close.
func New(o Options) (*Sharer, error) {
	if o.Conn == nil {
		return nil, errors.New("fleet: option Conn: required")
	}
	if o.Interval < 0 {
		return nil, fmt.Errorf("fleet: option Interval: must not be negative, got %v", o.Interval)
	}
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	s := &Sharer{
		conn:     o.Conn,
		subject:  cmp.Or(o.Subject, DefaultSubject),
		interval: cmp.Or(o.Interval, DefaultInterval),
		now:      o.Now,
		log:      o.Logger,
		instance: hex.EncodeToString(id),
		limiters: maps.Clone(o.Limiters),
		done:     make(chan struct{}),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	stop, err := s.conn.Subscribe(s.subject, s.receive)
	if err != nil {
		return nil, fmt.Errorf("fleet: subscribing to %s: %w", s.subject, err)
	}
	s.stop = stop
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.run(ctx)
	return s, nil
}

// SetLimiters replaces the shared limiters (after a configuration reload).
func (s *Sharer) SetLimiters(l map[string]*ratelimit.Limiter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limiters = maps.Clone(l)
}

// Applied is the number of the other nodes' requests taken from this
// node's buckets so far.
func (s *Sharer) Applied() uint64 { return s.applied.Load() }

// Close stops publishing and receiving, after one last report.
func (s *Sharer) Close() error {
	s.cancel()
	<-s.done
	return s.stop()
}

func (s *Sharer) run(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.flush()
			return
		case <-t.C:
			s.flush()
		}
	}
}

// flush publishes the use since the last flush, in messages of at most
// maxUsesPerMessage uses.
func (s *Sharer) flush() {
	s.mu.Lock()
	limiters := maps.Clone(s.limiters)
	s.mu.Unlock()
	msg := report{Node: s.instance, Limiters: map[string][]use{}}
	n := 0
	for _, name := range slices.Sorted(maps.Keys(limiters)) {
		for _, u := range limiters[name].TakeUsage() {
			msg.Limiters[name] = append(msg.Limiters[name], use{Key: []byte(u.Key), N: u.N})
			if n++; n == maxUsesPerMessage {
				s.publish(msg)
				msg.Limiters, n = map[string][]use{}, 0
			}
		}
	}
	if n > 0 {
		s.publish(msg)
	}
}

func (s *Sharer) publish(msg report) {
	data, err := json.Marshal(msg)
	if err == nil {
		err = s.conn.Publish(s.subject, data)
	}
	if err != nil {
		// Lost use makes the limit looser for one interval, never
		// stricter: not worth more than a debug line.
		s.log.Debug("rate-limit use not shared", "err", err)
	}
}

// receive applies another node's report; its own and unreadable ones are
// skipped.
func (s *Sharer) receive(data []byte) {
	var msg report
	if err := json.Unmarshal(data, &msg); err != nil || msg.Node == s.instance {
		return
	}
	s.mu.Lock()
	limiters := s.limiters
	s.mu.Unlock()
	now := s.now()
	for name, uses := range msg.Limiters {
		l, ok := limiters[name]
		if !ok {
			continue // a route this node does not have (yet)
		}
		for _, u := range uses {
			l.Consume(string(u.Key), u.N, now)
			s.applied.Add(uint64(u.N))
		}
	}
}
