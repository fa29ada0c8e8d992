package origin

import (
	"cmp"
	"sync"
	"sync/atomic"
	"time"

	"edged/internal/fielderr"
)

// Ejection configures passive health checking (outlier detection): a server
// that fails Failures exchanges in a row is ejected, i.e. not picked, for a
// back-off period. When the period ends the server is tried again; if its
// next exchange fails too it is ejected at once for twice as long (up to
// MaxBackoff), and one good exchange forgives it.
type Ejection struct {
	// Failures is the number of consecutive failures (connection failures,
	// timeouts, broken responses and, for origin servers, 5xx responses)
	// that eject a server; a request body that fails (ErrRequestBody) is
	// the caller's and never counts. Default 5.
	Failures int
	// Backoff is the first ejection's length. Default 30s.
	Backoff time.Duration
	// MaxBackoff caps the doubling back-off. Default 5m, or Backoff if
	// longer.
	MaxBackoff time.Duration
	// Disabled turns ejection off: no server is ever ejected.
	Disabled bool
}

const (
	defaultEjectFailures   = 5
	defaultEjectBackoff    = 30 * time.Second
	defaultEjectMaxBackoff = 5 * time.Minute
)

func (e Ejection) withDefaults() Ejection {
	e.Failures = cmp.Or(e.Failures, defaultEjectFailures)
	e.Backoff = cmp.Or(e.Backoff, defaultEjectBackoff)
	e.MaxBackoff = cmp.Or(e.MaxBackoff, max(defaultEjectMaxBackoff, e.Backoff))
	return e
}

// Validate reports every field of e that is out of range, each a
// [*fielderr.Error] naming the field, joined. It takes the fields as given:
// a Disabled ejection still needs valid numbers, so that turning it on is
// a change of one field.
func (e Ejection) Validate() error {
	var l fielderr.List
	if e.Failures < 0 {
		l.Addf("Failures", "must not be negative, got %d", e.Failures)
	} else {
		l.Check(e.Failures > 0 || e.Disabled, "Failures", "must be at least 1 (Disabled turns ejection off), got 0")
	}
	l.Check(e.Backoff > 0, "Backoff", "must be positive, got %v", e.Backoff)
	l.Check(e.MaxBackoff > 0, "MaxBackoff", "must be positive, got %v", e.MaxBackoff)
	if e.Backoff > 0 && e.MaxBackoff > 0 {
		l.Check(e.MaxBackoff >= e.Backoff, "MaxBackoff", "must not be less than the backoff (%v), got %v", e.Backoff, e.MaxBackoff)
	}
	return l.Err()
}

// ejector is one server's passive health state.
type ejector struct {
	until atomic.Int64 // unix nanoseconds until which the server is ejected; read lock-free by picks

	mu        sync.Mutex // guards the fields below (until is only written under mu)
	failures  int        // consecutive failures since the last success
	ejections int        // ejections since the last success; the back-off doubles with each
	probation bool       // ejected before and not yet forgiven: the next failure ejects again
}

// ejected reports whether the server is ejected at now (unix nanoseconds).
func (e *ejector) ejected(now int64) bool { return now < e.until.Load() }

// success records a good exchange at now: the failure run ends, and a server
// back from ejection is forgiven.
func (e *ejector) success(now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.failures = 0
	// A success from an exchange that began before the ejection does not
	// cut the back-off short.
	if e.probation && !e.ejected(now.UnixNano()) {
		e.probation, e.ejections = false, 0
	}
}

// failure records a failed exchange at now and returns the back-off when it
// ejected the server (0 otherwise).
func (e *ejector) failure(now time.Time, cfg Ejection) time.Duration {
	if cfg.Disabled {
		return 0
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ejected(now.UnixNano()) {
		// Late failures of exchanges that began before the ejection.
		return 0
	}
	e.failures++
	if !e.probation && e.failures < cfg.Failures {
		return 0
	}
	backoff := cfg.Backoff
	for range e.ejections {
		if backoff >= cfg.MaxBackoff/2 {
			backoff = cfg.MaxBackoff
			break
		}
		backoff *= 2
	}
	backoff = min(backoff, cfg.MaxBackoff)
	e.ejections++
	e.failures, e.probation = 0, true
	e.until.Store(now.Add(backoff).UnixNano())
	return backoff
}
