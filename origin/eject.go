package origin

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Ejection configures passive health checking (outlier detection): a server
// that fails Failures exchanges in a row is ejected, i.e. not picked, for a
// back-off period. When the period ends the server is tried again; if its
// next exchange fails too it is ejected at once for twice as long (up to
// MaxBackoff), and one good exchange forgives it.
type Ejection struct {
	// Failures is the number of consecutive failures (connection failures,
	// timeouts, broken responses and, for origin servers, 5xx responses)
	// that eject a server. Zero means 5; negative disables ejection.
	Failures int
	// Backoff is the first ejection's length. Zero means 30s.
	Backoff time.Duration
	// MaxBackoff caps the doubling back-off. Zero means 5m.
	MaxBackoff time.Duration
}

const (
	defaultEjectFailures   = 5
	defaultEjectBackoff    = 30 * time.Second
	defaultEjectMaxBackoff = 5 * time.Minute
)

func (e Ejection) withDefaults() Ejection {
	if e.Failures == 0 {
		e.Failures = defaultEjectFailures
	}
	if e.Backoff == 0 {
		e.Backoff = defaultEjectBackoff
	}
	if e.MaxBackoff == 0 {
		e.MaxBackoff = max(defaultEjectMaxBackoff, e.Backoff)
	}
	return e
}

// validate checks e; where names the option, as in `origin: pool "api":
// option Ejection`.
func (e Ejection) validate(where string) []error {
	var errs []error
	if e.Backoff < 0 {
		errs = append(errs, fmt.Errorf("%s.Backoff: negative duration %v", where, e.Backoff))
	}
	if e.MaxBackoff < 0 {
		errs = append(errs, fmt.Errorf("%s.MaxBackoff: negative duration %v", where, e.MaxBackoff))
	}
	if e.Backoff > 0 && e.MaxBackoff > 0 && e.MaxBackoff < e.Backoff {
		errs = append(errs, fmt.Errorf("%s.MaxBackoff: %v is less than Backoff %v", where, e.MaxBackoff, e.Backoff))
	}
	return errs
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
	if cfg.Failures < 0 {
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
