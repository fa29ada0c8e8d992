package edge

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
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
	servedBytes   *prometheus.CounterVec   // body bytes sent, by the tier they came from
	duration      *prometheus.HistogramVec // request duration by cache outcome
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
	for _, c := range []prometheus.Collector{m.requests, m.fetches, m.fetchDuration, m.coalesced, m.servedBytes, m.duration} {
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
	if n > 0 {
		m.servedBytes.WithLabelValues(tier.String()).Add(float64(n))
	}
}

// trackedWriter records what was sent, for metrics and the access log.
type trackedWriter struct {
	http.ResponseWriter
	h      *Handler
	r      *http.Request
	start  time.Time
	status int
	bytes  int64
	cache  string    // outcome, set with Cache-Status
	x      *exchange // the routed request, once known
}

func (h *Handler) track(w http.ResponseWriter, r *http.Request) *trackedWriter {
	return &trackedWriter{ResponseWriter: w, h: h, r: r, start: time.Now()}
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
	n, err := t.ResponseWriter.Write(p)
	t.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (t *trackedWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }

// done records the request once it has been answered.
func (t *trackedWriter) done() {
	elapsed := time.Since(t.start)
	if t.cache == "" {
		t.cache = "error"
	}
	t.h.metrics.requests.WithLabelValues(t.cache).Inc()
	t.h.metrics.duration.WithLabelValues(t.cache).Observe(elapsed.Seconds())
	if log := t.h.opts.AccessLog; log != nil {
		log.LogAttrs(t.r.Context(), slog.LevelInfo, "request",
			slog.String("method", t.r.Method),
			slog.String("host", t.r.Host),
			slog.String("uri", t.r.RequestURI),
			slog.Int("status", t.status),
			slog.Int64("bytes", t.bytes),
			slog.String("cache", t.cache),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
			slog.String("client", clientIP(t.r)),
		)
	}
}
