package origin

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"time"

	"edged/internal/fielderr"
)

// HealthCheck configures a pool's active health checks: a periodic GET of
// Path on every server. A server becomes down after Fall consecutive failed
// checks and up again after Rise consecutive good ones; a down server is
// never picked.
type HealthCheck struct {
	// Path is the request target checked on each server, e.g. "/healthz",
	// after the server URL's path prefix. "" disables active checks.
	Path string
	// Interval is the time between two checks of a server. Default 10s.
	Interval time.Duration
	// Timeout bounds one check, connect to end of body. Default 2s.
	Timeout time.Duration
	// Expect is the status a healthy server answers. Default 200.
	Expect int
	// Rise is the number of consecutive good checks that bring a down
	// server up. Default 2.
	Rise int
	// Fall is the number of consecutive failed checks that take an up
	// server down. Default 3.
	Fall int
	// Host is the Host header of checks. "" means the server's own host.
	Host string
	// StartDown makes servers start down, so none is picked before Rise
	// checks pass. By default servers start up.
	StartDown bool
}

const (
	defaultCheckInterval = 10 * time.Second
	defaultCheckTimeout  = 2 * time.Second
	defaultCheckRise     = 2
	defaultCheckFall     = 3
	maxCheckBody         = 64 << 10 // drained so the connection is reused
)

func (h HealthCheck) withDefaults() HealthCheck {
	h.Interval = cmp.Or(h.Interval, defaultCheckInterval)
	h.Timeout = cmp.Or(h.Timeout, defaultCheckTimeout)
	h.Expect = cmp.Or(h.Expect, http.StatusOK)
	h.Rise = cmp.Or(h.Rise, defaultCheckRise)
	h.Fall = cmp.Or(h.Fall, defaultCheckFall)
	return h
}

// Validate reports every field of h that is out of range, each a
// [*fielderr.Error] naming the field, joined. It takes the fields as given,
// also when Path is empty (checks off), so that turning checks on is a
// change of one field.
func (h HealthCheck) Validate() error {
	var l fielderr.List
	l.Check(h.Path == "" || h.Path[0] == '/', "Path", "must start with /, got %q", h.Path)
	l.Check(h.Interval > 0, "Interval", "must be positive, got %v", h.Interval)
	l.Check(h.Timeout > 0, "Timeout", "must be positive, got %v", h.Timeout)
	// RFC 9110 §15: status codes are three digits, 100 to 599.
	l.Check(h.Expect >= 100 && h.Expect <= 599, "Expect", "must be an HTTP status (100 to 599), got %d", h.Expect)
	l.Check(h.Rise >= 1, "Rise", "must be at least 1, got %d", h.Rise)
	l.Check(h.Fall >= 1, "Fall", "must be at least 1, got %d", h.Fall)
	l.Check(h.Host == "" || validHost(h.Host), "Host", "invalid host %q", h.Host)
	return l.Err()
}

// validHost reports whether h can be sent as a Host field value: no
// whitespace, controls or characters that end the authority.
func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c <= ' ' || c == 0x7f || c == '/' || c == '?' || c == '#' || c == '@' {
			return false
		}
	}
	return true
}

// checkCounts are the consecutive check results of one server. Only that
// server's check goroutine touches them.
type checkCounts struct {
	good, bad int
}

// runChecks checks up every Interval until ctx ends.
func (p *Pool) runChecks(ctx context.Context, up *upstream) {
	ticker := time.NewTicker(p.opts.Health.Interval)
	defer ticker.Stop()
	for {
		p.record(ctx, up, p.checkOnce(ctx, up))
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// checkOnce performs one check of up and returns nil when it passed.
func (p *Pool) checkOnce(ctx context.Context, up *upstream) error {
	ctx, cancel := context.WithTimeout(ctx, p.opts.Health.Timeout)
	defer cancel()
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { expectResponse(info.Conn, http.MethodGet, false) },
	})
	target, err := up.targetURL(p.opts.Health.Path)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "", nil)
	if err != nil {
		return err
	}
	req.URL, req.Host = target, p.opts.Health.Host
	req.Header.Set("User-Agent", "edged-health-check")
	resp, err := p.checkTr.keep.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxCheckBody))
	if resp.StatusCode != p.opts.Health.Expect {
		return fmt.Errorf("status %d, want %d", resp.StatusCode, p.opts.Health.Expect)
	}
	return err
}

// record applies one check result to up's state: Fall failures in a row
// take it down, Rise successes in a row bring it up.
func (p *Pool) record(ctx context.Context, up *upstream, err error) {
	if ctx.Err() != nil {
		return // the pool is closing; the aborted check says nothing of the server
	}
	c := &up.check
	if err == nil {
		c.good, c.bad = c.good+1, 0
		if !up.up.Load() && c.good >= p.opts.Health.Rise {
			up.up.Store(true)
			up.metrics.setUp(true)
			p.log.Info("origin server up", "pool", p.name, "server", up.base, "checks", c.good)
		}
		return
	}
	c.good, c.bad = 0, c.bad+1
	if up.up.Load() && c.bad >= p.opts.Health.Fall {
		up.up.Store(false)
		up.metrics.setUp(false)
		p.log.Warn("origin server down", "pool", p.name, "server", up.base, "checks", c.bad, "err", err)
	}
}
