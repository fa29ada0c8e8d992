package origin

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"time"
)

// idleBody bounds each wait for response body bytes: a Read that blocks for
// longer than idle cancels the exchange and fails with ErrTimeout. Time the
// caller spends between reads (e.g. writing to a slow client) is not counted,
// since it is not the upstream's stall.
type idleBody struct {
	body     io.ReadCloser
	ctx      context.Context // the caller's context, to classify its errors
	upstream string
	idle     time.Duration
	timer    *time.Timer // cancels the exchange when a Read blocks too long
	timedOut atomic.Bool // set by timer; read by Read, which may race with it
	cancel   context.CancelFunc
	inFlight *atomic.Int64 // the upstream's count of exchanges, less one on the first Close
	closed   atomic.Bool   // Close was called
}

func newIdleBody(ctx context.Context, upstream string, body io.ReadCloser, idle time.Duration, cancel context.CancelFunc, inFlight *atomic.Int64) *idleBody {
	b := &idleBody{body: body, ctx: ctx, upstream: upstream, idle: idle, cancel: cancel, inFlight: inFlight}
	b.timer = time.AfterFunc(idle, b.expire)
	b.timer.Stop()
	return b
}

func (b *idleBody) expire() {
	b.timedOut.Store(true)
	b.cancel()
}

// Read reads from the upstream body. Errors other than io.EOF wrap
// ErrTimeout (idle timeout or context deadline) or ErrProtocol (the
// upstream broke the framing, e.g. closed early).
func (b *idleBody) Read(p []byte) (int, error) {
	b.timer.Reset(b.idle)
	n, err := b.body.Read(p)
	b.timer.Stop()
	if err == nil || err == io.EOF {
		return n, err
	}
	return n, b.classify(err)
}

func (b *idleBody) classify(err error) error {
	switch {
	case b.timedOut.Load():
		return wrap(b.upstream, ErrTimeout, errors.New("body idle for "+b.idle.String()))
	case errors.Is(b.ctx.Err(), context.Canceled):
		return wrap(b.upstream, context.Canceled, err)
	case b.ctx.Err() != nil || isTimeout(err):
		return wrap(b.upstream, ErrTimeout, err)
	}
	return wrap(b.upstream, ErrProtocol, err)
}

// Close releases the connection (back to the pool if fully read) and the
// exchange's context, and ends the exchange's in-flight count.
func (b *idleBody) Close() error {
	b.timer.Stop()
	err := b.body.Close()
	b.cancel()
	if !b.closed.Swap(true) {
		b.inFlight.Add(-1)
	}
	return err
}
