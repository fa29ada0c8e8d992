package origin

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// Sentinel errors returned (wrapped, with the upstream URL as context) by
// [Client.Do] and by reads of the response body. Test with errors.Is.
var (
	// ErrConnect means no connection to any upstream could be made (refused,
	// unreachable, DNS failure, TLS handshake failure); nothing was sent.
	// The edge answers 502.
	ErrConnect = errors.New("origin: cannot connect upstream")
	// ErrTimeout means the connect, response-header or body-idle timeout
	// expired, or the caller's context deadline passed. The edge answers 504.
	ErrTimeout = errors.New("origin: upstream timed out")
	// ErrProtocol means the upstream answered with something that is not a
	// valid HTTP response, or broke the exchange after the request was sent.
	// The edge answers 502.
	ErrProtocol = errors.New("origin: bad upstream response")
	// ErrNoHealthy means no upstream could take the request: every server of
	// the pool is down (active checks) or ejected (passive checks), or every
	// shield is ejected and there is no fallback. Nothing was sent, and it is
	// returned at once. The edge answers 503 (or stale-if-error content).
	ErrNoHealthy = errors.New("origin: no healthy upstream server")
	// ErrRequestBody means reading the request body ([Outbound].Body)
	// failed while it was being sent: the client's body was cut short,
	// malformed, reset or too slow. The fault is the caller's, not the
	// upstream's: it never counts against the server's health (passive
	// ejection) and is never retried elsewhere. The error also wraps the
	// body's own error. The edge answers 400 (408 for a stalled body).
	ErrRequestBody = errors.New("origin: cannot read the request body")
)

// RetryAfter reports, for an err that wraps [ErrNoHealthy], when a server
// may be back: the soonest end of an ejection, or the next active check of
// a server that checks took down (one check: it may be the last of its
// Rise). ok is false for other errors, or when nothing says (a hint only:
// the edge sends it as Retry-After, RFC 9110 §10.2.3).
func RetryAfter(err error) (d time.Duration, ok bool) {
	var nh *noHealthyError
	if !errors.As(err, &nh) {
		return 0, false
	}
	return nh.after, nh.after > 0
}

// noHealthyError is an [ErrNoHealthy] that knows when to try again.
type noHealthyError struct {
	what  string        // "pool \"app\"", "every shield is ejected"
	after time.Duration // see RetryAfter; 0 when unknown
}

func (e *noHealthyError) Error() string { return e.what + ": " + ErrNoHealthy.Error() }
func (e *noHealthyError) Unwrap() error { return ErrNoHealthy }

// soonestBack is how long until one of servers may take requests again
// (RetryAfter): an ejected one when its ejection ends, one that active
// checks took down at the next check, every interval; 0 when none says.
func soonestBack(servers []*upstream, now time.Time, checkInterval time.Duration) time.Duration {
	var soonest time.Duration
	for _, up := range servers {
		var d time.Duration
		switch {
		case up.eject.ejected(now.UnixNano()):
			d = time.Duration(up.eject.until.Load() - now.UnixNano())
		case !up.up.Load() && checkInterval > 0:
			d = checkInterval
		default:
			continue
		}
		if soonest == 0 || d < soonest {
			soonest = d
		}
	}
	return soonest
}

// failure is a classified transport error.
type failure struct {
	err       error // wrapped: sentinel (or context.Canceled) plus the cause
	connPhase bool  // failed before anything was sent: safe to try elsewhere
	reset     bool  // the connection broke after sending, before response headers
	// headerTimeout: the request was sent and no response headers came
	// within the header timeout (the caller's own deadline is not one).
	headerTimeout bool
	// requestBody: the request's own body failed (ErrRequestBody), the
	// caller's fault; nothing is held against the upstream.
	requestBody bool
}

// callers reports whether f is the caller's doing, never held against the
// server (passive ejection): its own cancellation or deadline, or its
// request body that failed.
func (f *failure) callers(ctx context.Context) bool {
	return ctx.Err() != nil || f.requestBody
}

// classify maps a transport error to a sentinel. ctx is the caller's context:
// its own cancellation or deadline takes precedence over the transport's
// report of it.
func classify(ctx context.Context, up *upstream, a *attempt, err error) failure {
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return failure{err: wrapAt(up, ErrTimeout, err)}
		}
		return failure{err: wrapAt(up, context.Canceled, err)}
	}
	// Nothing was sent when the connection could not be made: the request
	// reached GetConn but no connection came back, a TLS handshake failed, or
	// a dial failed (also on the transport's own retry after a stale
	// keep-alive connection).
	connPhase := (a.getConn.Load() && !a.gotConn.Load()) || a.tlsErr.Load() || isDialError(err)
	switch {
	case isTimeout(err):
		return failure{err: wrapAt(up, ErrTimeout, err), connPhase: connPhase, headerTimeout: !connPhase}
	case connPhase:
		return failure{err: wrapAt(up, ErrConnect, err), connPhase: true}
	default:
		return failure{err: wrapAt(up, ErrProtocol, err), reset: isReset(err)}
	}
}

// isReset reports a connection closed or reset by the peer.
func isReset(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED)
}

func wrap(upstream string, sentinel, cause error) error {
	return &fetchError{upstream: upstream, sentinel: sentinel, cause: cause}
}

// wrapAt is wrap for an exchange with up, which the error then names to
// FailedServer.
func wrapAt(up *upstream, sentinel, cause error) error {
	return &fetchError{upstream: up.base, server: up.host, sentinel: sentinel, cause: cause}
}

// FailedServer returns the upstream server an error of [Client.Do] came from, as
// a response's Request.URL.Host names the one that answered: the host[:port]
// of the server (pool member, shield or destination) whose attempt failed,
// the last one tried when the request was retried. It is "" when no server
// was tried ([ErrNoHealthy]) or err is not one of Do's.
func FailedServer(err error) string {
	var fe *fetchError
	if errors.As(err, &fe) {
		return fe.server
	}
	return ""
}

// fetchError reads "fetch <upstream>: <sentinel>: <cause>" and unwraps to both
// the sentinel and the cause, so callers can test either with errors.Is.
type fetchError struct {
	upstream string
	server   string // up.host of the exchange, for FailedServer; "" if unknown
	sentinel error
	cause    error
}

func (e *fetchError) Error() string {
	msg := "fetch " + e.upstream + ": " + e.sentinel.Error()
	if cause := e.cause.Error(); cause != e.sentinel.Error() {
		msg += ": " + cause
	}
	return msg
}

func (e *fetchError) Unwrap() []error { return []error{e.sentinel, e.cause} }

// isDialError reports a failure to establish the TCP connection, including DNS.
func isDialError(err error) bool {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return true
	}
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr)
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}
