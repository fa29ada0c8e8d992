package edge

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"edged/origin"
	"edged/storage"
)

// metrics are the handler's Prometheus series. They are registered on the
// Registerer given in Options; with none they are kept but not exported.
type metrics struct {
	requests      *prometheus.CounterVec   // by cache outcome
	fetches       *prometheus.CounterVec   // upstream fetches by result
	fetchDuration prometheus.Histogram     // time to upstream response headers
	coalesced     prometheus.Counter       // requests that waited on another's fetch
	overBudget    prometheus.Counter       // fills and disk hits passed through for the body budget
	servedBytes   *prometheus.CounterVec   // body bytes sent, by the tier they came from
	duration      *prometheus.HistogramVec // request duration by cache outcome

	// The labelled series every request updates, looked up in the vectors
	// once (on first use, so that a series appears only once it counts
	// something, as before) rather than by label on every request.
	byOutcome [numOutcomes]atomic.Pointer[outcomeSeries]
	byTier    [storage.TierDisk + 1]atomic.Pointer[tierSeries]
}

// tierSeries is the served-bytes series of one tier.
type tierSeries struct{ bytes prometheus.Counter }

// outcomeSeries are the series of one cache outcome.
type outcomeSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edged_requests_total", Help: "Client requests by cache outcome (hit, stale, miss, revalidated, stale-if-error, pass, error).",
		}, []string{"cache"}),
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edged_upstream_fetches_total", Help: "Shared upstream fetches by result (status class or error kind).",
		}, []string{"result"}),
		fetchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "edged_upstream_fetch_seconds", Help: "Time from sending a shared upstream fetch to its response headers.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		coalesced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edged_coalesced_waiters_total", Help: "Requests answered by another request's upstream fetch.",
		}),
		overBudget: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edged_body_memory_passes_total", Help: "Fills and disk hits passed through because the memory budget for bodies in flight was spent.",
		}),
		servedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edged_served_bytes_total", Help: "Response body bytes by the tier they came from (memory, disk, none = straight from upstream).",
		}, []string{"tier"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "edged_request_seconds", Help: "Client request duration by cache outcome.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 14),
		}, []string{"cache"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.fetches, m.fetchDuration, m.coalesced, m.overBudget, m.servedBytes, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) observeFetch(start time.Time, resp *http.Response, err error) {
	result := "error"
	switch {
	case err == nil:
		result = strconv.Itoa(resp.StatusCode/100) + "xx"
		m.fetchDuration.Observe(time.Since(start).Seconds())
	case errors.Is(err, origin.ErrNoHealthy):
		result = "no-healthy"
	case errors.Is(err, origin.ErrTimeout):
		result = "timeout"
	case errors.Is(err, origin.ErrConnect):
		result = "connect"
	}
	m.fetches.WithLabelValues(result).Inc()
}

func (m *metrics) served(tier storage.Tier, n int) {
	if n <= 0 {
		return
	}
	if tier < 0 || int(tier) >= len(m.byTier) {
		m.servedBytes.WithLabelValues(tier.String()).Add(float64(n))
		return
	}
	s := m.byTier[tier].Load()
	if s == nil {
		// Racing first uses store the same series: the vector creates a
		// label's series once.
		s = &tierSeries{bytes: m.servedBytes.WithLabelValues(tier.String())}
		m.byTier[tier].Store(s)
	}
	s.bytes.Add(float64(n))
}

// seriesOf returns the series of o.
func (m *metrics) seriesOf(o outcome) *outcomeSeries {
	if s := m.byOutcome[o].Load(); s != nil {
		return s
	}
	label := o.String()
	s := &outcomeSeries{requests: m.requests.WithLabelValues(label), duration: m.duration.WithLabelValues(label)}
	m.byOutcome[o].Store(s) // racing first uses store the same series
	return s
}

// outcome is the short cache result used in metrics and access logs.
type outcome uint8

const (
	outcomeError outcome = iota // also: not answered through setCacheStatus
	outcomeHit
	outcomeStale
	outcomeMiss
	outcomeRevalidated
	outcomeStaleIfError
	outcomePass
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"error", "hit", "stale", "miss", "revalidated", "stale-if-error", "pass"}

func (o outcome) String() string { return outcomeNames[o] }

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
	if obs := t.h.opts.Observer; obs != nil {
		t.observe(obs, elapsed)
	}
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
