package edge

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Request bodies are passed to the upstream as they arrive, so a client that
// announces a body and then trickles it (a RUDY attack: Content-Length 100
// and one byte) would hold a client connection, an upstream connection and
// an origin worker for as long as it likes. Two bounds stop that:
//   - uploads: a client address may have only so many requests with a body
//     under way; more are refused at once with 429 (RFC 6585 §4) rather than
//     queued, since each holds an origin connection.
//   - uploadBody: each wait for body bytes is bounded (idle timeout), and so
//     is the whole body (a minimum average rate, after a first idle period
//     of grace: Apache's mod_reqtimeout rule). A stalled body fails the
//     upstream request, whose connection is closed (the origin saw part of a
//     request), and the client gets 408 (RFC 9110 §15.5.9) with its
//     connection closed.

// defaultUploadsPerClient bounds the requests with a body one client address
// may have in flight upstream: more than a browser's connection pool, few
// enough that one address cannot tie up the origin's workers.
const defaultUploadsPerClient = 16

// defaultBodyIdle is how long a request body may send nothing.
const defaultBodyIdle = 30 * time.Second

// errBodyStalled is the error a stalled request body fails with.
var errBodyStalled = errors.New("request body stalled")

// uploadBody reads a request body for the upstream, with a read deadline on
// the client connection before every read: now + idle, or sooner when the
// body is behind the minimum rate. The deadline makes a blocked read return
// (http.ResponseController, HTTP/1 and HTTP/2 alike).
type uploadBody struct {
	body    io.Reader
	rc      *http.ResponseController
	idle    time.Duration
	minRate int64 // bytes per second; 0: none

	start   time.Time // the first read
	n       int64     // bytes read so far
	stalled atomic.Bool

	// The transport may still read the body after the handler returned
	// (it answered early; net/http reads once more past Content-Length),
	// when the ResponseWriter must no longer be touched.
	mu       sync.Mutex // guards finished and every use of rc
	finished bool       // the handler returned
}

// finish ends the body's use of the ResponseWriter; pass calls it before
// returning.
func (b *uploadBody) finish() {
	b.mu.Lock()
	b.finished = true
	b.mu.Unlock()
}

// setReadDeadline sets the client connection's read deadline unless the
// handler returned. An error means the connection cannot take deadlines (a
// test recorder): the body is then read without one.
func (b *uploadBody) setReadDeadline(t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.finished {
		_ = b.rc.SetReadDeadline(t)
	}
}

func (h *Handler) newUploadBody(w http.ResponseWriter, body io.Reader) *uploadBody {
	return &uploadBody{body: body, rc: http.NewResponseController(w), idle: h.opts.RequestBodyTimeout,
		minRate: h.opts.RequestBodyMinRate}
}

func (b *uploadBody) Read(p []byte) (int, error) {
	// The wall clock, not Options.Now: the deadline is the connection's.
	now := time.Now()
	if b.start.IsZero() {
		b.start = now
	}
	deadline := now.Add(b.idle)
	if b.minRate > 0 {
		// The body may take the idle period plus one second per minRate
		// bytes received: a trickle falls behind however it is spaced.
		allowed := b.idle + time.Duration(float64(b.n)/float64(b.minRate)*float64(time.Second))
		deadline = minTime(deadline, b.start.Add(allowed))
	}
	b.setReadDeadline(deadline)
	n, err := b.body.Read(p)
	b.n += int64(n)
	switch {
	case err == io.EOF:
		// The server goes on reading the connection in the background to
		// notice a client that leaves; that read must not inherit the
		// body's deadline.
		b.setReadDeadline(time.Time{})
	case errors.Is(err, os.ErrDeadlineExceeded):
		b.stalled.Store(true)
		err = fmt.Errorf("%w after %d bytes in %v: %w", errBodyStalled, b.n, time.Since(b.start).Round(time.Millisecond), err)
	}
	return n, err
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
