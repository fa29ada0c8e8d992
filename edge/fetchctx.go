package edge

import (
	"context"
	"errors"
	"time"
)

// fetchContext returns the context of one shared upstream fetch: ended by
// cancel, by the Handler's Close (h.fetchCtx), or once FetchTimeout has
// passed, as a deadline (its Err is context.DeadlineExceeded, which the
// origin client reports as origin.ErrTimeout: a 504).
//
// unbind stops that clock when the body is being sent to a client as it
// arrives (an unkept stream, a response too large to store, a fill streamed
// while it is stored): such a body may last as long as its upstream keeps
// sending (an event stream, a large download on a slow link), and a total
// bound cut it while bytes still flowed. Each pause between reads stays
// bounded by the origin client's body timeout (upstream.body_timeout), so
// a stalled upstream is still cut; and the clients being sent it are
// bounded by their own write timeout. unbind after the deadline does
// nothing: the fetch is over by then.
func (h *Handler) fetchContext() (ctx context.Context, cancel context.CancelFunc, unbind func()) {
	c, cancelCause := context.WithCancelCause(h.fetchCtx)
	deadline := time.AfterFunc(h.opts.FetchTimeout, func() { cancelCause(context.DeadlineExceeded) })
	cancel = func() {
		deadline.Stop()
		cancelCause(context.Canceled)
	}
	return deadlineContext{c}, cancel, func() { deadline.Stop() }
}

// deadlineContext reports the cancellation of a fetch by its deadline as
// a deadline (context.DeadlineExceeded), as context.WithTimeout would,
// though the deadline can be lifted (fetchContext's unbind).
type deadlineContext struct {
	context.Context // made by context.WithCancelCause
}

func (c deadlineContext) Err() error {
	err := c.Context.Err()
	if err != nil && errors.Is(context.Cause(c.Context), context.DeadlineExceeded) {
		return context.DeadlineExceeded
	}
	return err
}
