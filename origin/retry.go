package origin

import (
	"io"
	"net/http"
)

// request is one Do call's state across its attempts.
type request struct {
	method     string
	out        *Outbound
	header     http.Header // the forwarded header, shared by all attempts
	replayable bool        // the body can be sent again
	attempts   int         // attempts started
}

// replayable reports whether out can be sent more than once: it has no
// body, or GetBody provides fresh copies.
func replayable(out *Outbound) bool {
	return out.Body == nil || out.Body == http.NoBody || out.GetBody != nil
}

// nextBody returns the body for the next attempt: Body for the first, a copy
// from GetBody after.
func (rq *request) nextBody() (io.Reader, error) {
	rq.attempts++
	out := rq.out
	switch {
	case out.Body == nil || out.Body == http.NoBody:
		return nil, nil
	case rq.attempts == 1:
		return out.Body, nil
	default:
		return out.GetBody()
	}
}

// canRetry reports whether the request may be sent to another upstream
// after failure f; afterTimeout says whether a header timeout may be
// retried (on a pool's servers, not on shields: a shield that does not
// answer in time is most likely waiting on the origin, which another
// shield would only ask again).
func (rq *request) canRetry(f *failure, afterTimeout bool) bool {
	if !rq.replayable || f.requestBody {
		// A body that failed once fails again: the client's fault.
		return false
	}
	if f.connPhase {
		// Nothing was sent, so the upstream cannot have acted on it: any
		// method may go elsewhere.
		return true
	}
	// The request was sent: the server may have acted on it. Only GET and
	// HEAD, safe and idempotent (RFC 9110 §9.2.1, §9.2.2), are replayed.
	// Other idempotent methods (PUT, DELETE) are not, to keep a single
	// write.
	safe := rq.method == http.MethodGet || rq.method == http.MethodHead
	switch {
	case f.reset:
		// The connection broke before response headers.
		return safe
	case f.headerTimeout:
		// No response headers within the header timeout, as nginx's
		// proxy_next_upstream timeout retries: a server that hangs
		// does not fail every request it is picked for. A request
		// with a body is not (nginx's default, unless
		// non_idempotent): a GET body is rare, and sending it twice
		// doubles what the servers read.
		return afterTimeout && safe && (rq.out.Body == nil || rq.out.Body == http.NoBody)
	}
	return false
}
