package edge

import (
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"edged/internal/promreg"
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
	if err := promreg.All(reg, m.requests, m.fetches, m.fetchDuration, m.coalesced, m.overBudget, m.servedBytes, m.duration); err != nil {
		return nil, err
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
