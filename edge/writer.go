package edge

import (
	"log/slog"
	"net/http"
	"time"
)

// trackedWriter records what was sent, for metrics and the access log. It
// is recycled (Handler.writers) once the request is recorded, with the
// exchange it holds: nothing may keep either after ServeHTTP returns (a
// fetch that outlives the request takes a copy of the exchange, see
// exchange.detached).
type trackedWriter struct {
	http.ResponseWriter
	h      *Handler
	r      *http.Request
	start  time.Time
	status int
	bytes  int64
	cache  outcome   // set with Cache-Status
	x      *exchange // the routed request, once known: &xv
	xv     exchange
	// scratch is a buffer for the request's own use (a variant's key).
	scratch []byte
	// deadline is set once a write deadline is (see Options.WriteTimeout).
	deadline bool
	// held is the body budget this request's response holds (a disk hit,
	// a compressor), given back in done.
	held hold
}

// maxKeepBuffer bounds the buffers a recycled writer keeps: one request
// for a huge URL must not pin its buffer for good.
const maxKeepBuffer = 4 << 10

// reusable returns b emptied, or nil if it is too large to keep.
func reusable(b []byte) []byte {
	if cap(b) > maxKeepBuffer {
		return nil
	}
	return b[:0]
}

func (h *Handler) track(w http.ResponseWriter, r *http.Request) *trackedWriter {
	t, _ := h.writers.Get().(*trackedWriter)
	if t == nil {
		t = new(trackedWriter)
	}
	t.ResponseWriter, t.h, t.r, t.start = w, h, r, time.Now()
	t.held.b = &h.bodies
	return t
}

func (t *trackedWriter) WriteHeader(status int) {
	if t.status == 0 {
		t.status = status
	}
	t.ResponseWriter.WriteHeader(status)
}

func (t *trackedWriter) Write(p []byte) (int, error) {
	if t.status == 0 {
		t.status = http.StatusOK
	}
	if t.h.opts.WriteTimeout <= 0 || len(p) < minDeadlineWrite && !t.deadline {
		// Small writes fit in the socket's buffers: no deadline to move.
		n, err := t.ResponseWriter.Write(p)
		t.bytes += int64(n)
		return n, err
	}
	var n int
	for len(p) > 0 {
		// Each chunk gets the whole timeout: a slow but steady client
		// keeps going, one that stops reading is cut within it.
		if http.NewResponseController(t.ResponseWriter).SetWriteDeadline(time.Now().Add(t.h.opts.WriteTimeout)) == nil {
			t.deadline = true
		}
		m, err := t.ResponseWriter.Write(p[:min(len(p), deadlineChunk)])
		n += m
		t.bytes += int64(m)
		if err != nil {
			return n, err
		}
		p = p[m:]
	}
	return n, nil
}

// deadlineChunk is the most written under one write deadline, and
// minDeadlineWrite the least write that sets one (see Options.WriteTimeout).
const (
	deadlineChunk    = 64 << 10
	minDeadlineWrite = 16 << 10
)

// clearDeadline sends what is buffered under the last write deadline, then
// clears it, so that an idle keep-alive connection is not cut when the
// deadline passes between requests (http.Server sets none of its own
// without a WriteTimeout). A connection that failed to flush keeps its
// deadline and is closed by it.
func (t *trackedWriter) clearDeadline() {
	rc := http.NewResponseController(t.ResponseWriter)
	if rc.Flush() == nil {
		_ = rc.SetWriteDeadline(time.Time{})
	}
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (t *trackedWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }

// done records the request once it has been answered, then recycles t.
func (t *trackedWriter) done() {
	if t.deadline {
		t.clearDeadline()
	}
	t.held.release()
	elapsed := time.Since(t.start)
	series := t.h.metrics.seriesOf(t.cache)
	series.requests.Inc()
	series.duration.Observe(elapsed.Seconds())
	if log := t.h.opts.AccessLog; log != nil {
		log.LogAttrs(t.r.Context(), slog.LevelInfo, "request",
			slog.String("method", t.r.Method),
			slog.String("host", t.r.Host),
			slog.String("uri", t.r.RequestURI),
			slog.Int("status", t.status),
			slog.Int64("bytes", t.bytes),
			slog.String("cache", t.cache.String()),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
			slog.String("client", clientIP(t.r)),
		)
	}
	h := t.h
	*t = trackedWriter{xv: exchange{keyBuf: reusable(t.xv.keyBuf)}, scratch: reusable(t.scratch)}
	h.writers.Put(t)
}
