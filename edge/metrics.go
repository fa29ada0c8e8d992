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
//
// Every label value comes from the configuration or from a fixed list, never
// from a request: site is a site's name, route a route's path prefix, status
// a status class and cache an outcome, so the number of series is bounded by
// the configuration (docs/metrics.md).
type metrics struct {
	requests      *prometheus.CounterVec   // by site, route, status class, cache outcome
	duration      *prometheus.HistogramVec // request duration, by the same labels
	fetches       *prometheus.CounterVec   // upstream fetches by result
	fetchDuration prometheus.Histogram     // time to upstream response headers
	coalesced     prometheus.Counter       // requests that waited on another's fetch
	overBudget    prometheus.Counter       // fills and disk hits passed through for the body budget
	servedBytes   *prometheus.CounterVec   // body bytes sent, by the tier they came from
	tierHits      *prometheus.CounterVec   // responses answered from a cache tier, by tier
	wsClosed      *prometheus.CounterVec   // WebSocket relays ended, by reason
	passFailures  *prometheus.CounterVec   // pass-through requests that failed, by reason

	// unrouted are the series of requests answered before a route was
	// chosen (refused, or for a host no site serves): site and route "".
	unrouted routeSeries
	byTier   [storage.TierDisk + 1]atomic.Pointer[tierSeries]
}

// tierSeries are the series of one tier.
type tierSeries struct {
	bytes prometheus.Counter
	hits  prometheus.Counter // nil for TierNone: not a hit
}

// routeSeries caches the request series of one route, by cache outcome and
// status class, so that recording a request (a hit included) costs two
// atomic loads and no label lookup, map or string building. Each series is
// looked up in the vectors on its first use, so it appears only once it
// counts something. It lives in its Route: routes built by a configuration
// reload start with empty caches and find the series of equal labels again
// (a vector keeps one series per label values), so counts go on across
// reloads; the series of a removed route are deleted once the routes it was
// removed from have drained (forgetRoutes, from Handler.Reroute).
type routeSeries struct {
	cells [numOutcomes][numStatusClasses]atomic.Pointer[requestSeries]
}

// requestSeries are the series one request updates.
type requestSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// numStatusClasses counts the status label's values: "other" (no status
// sent, or one outside 100-599), then "1xx" to "5xx".
const numStatusClasses = 6

var statusClassNames = [numStatusClasses]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

// statusClass is the index of status's class in statusClassNames.
func statusClass(status int) int {
	if status < 100 || status > 599 {
		return 0
	}
	return status / 100
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edged_requests_total", Help: "Client requests by site, route (its path prefix), status class (1xx-5xx, other) and cache outcome (hit, stale, miss, revalidated, stale-if-error, pass, bad-request-body, error).",
		}, requestLabels),
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
			Name: "edged_request_seconds", Help: "Client request duration, from the request's arrival to the end of its response, by site, route, status class and cache outcome.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 14),
		}, requestLabels),
		tierHits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edged_tier_hits_total", Help: "Responses answered from a cache tier (memory, disk), stale and revalidated ones included.",
		}, []string{"tier"}),
		wsClosed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edged_websocket_closed_total", Help: "WebSocket connections ended, by reason (ended: a side closed; idle: idle_timeout; max_duration: max_duration; shutdown: the node closed or reloaded).",
		}, []string{"reason"}),
	}
	m.passFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edged_pass_failures_total", Help: "Requests passed through to the upstream (not cacheable by method or route, uploads, WebSocket handshakes) that failed, by reason: the client's request body (bad-request-body, request-body-timeout, request-too-large) or the upstream (no-healthy-upstream, upstream-timeout, upstream-unreachable, upstream-error).",
	}, []string{"reason"})
	if err := promreg.All(reg, m.requests, m.fetches, m.fetchDuration, m.coalesced, m.overBudget, m.servedBytes, m.duration, m.tierHits, m.wsClosed, m.passFailures); err != nil {
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

// passFailed counts a pass-through request that failed for reason, its
// Cache-Status detail (a fixed list, policy.Detail*).
func (m *metrics) passFailed(reason string) {
	m.passFailures.WithLabelValues(reason).Inc()
}

// webSocketEnded counts a WebSocket relay that ended for reason (one of
// the ws* reasons in upgrade.go).
func (m *metrics) webSocketEnded(reason string) {
	m.wsClosed.WithLabelValues(reason).Inc()
}

// requestLabels are the labels of edged_requests_total and
// edged_request_seconds, in the order newSeries gives their values.
var requestLabels = []string{"site", "route", "status", "cache"}

// served counts a response's body bytes by the tier they came from, and a
// response from the memory or disk tier as a hit of that tier.
func (m *metrics) served(tier storage.Tier, n int) {
	if tier < 0 || int(tier) >= len(m.byTier) {
		if n > 0 {
			m.servedBytes.WithLabelValues(tier.String()).Add(float64(n))
		}
		return
	}
	s := m.byTier[tier].Load()
	if s == nil {
		// Racing first uses store the same series: the vector creates a
		// label's series once.
		s = &tierSeries{bytes: m.servedBytes.WithLabelValues(tier.String())}
		if tier != storage.TierNone {
			s.hits = m.tierHits.WithLabelValues(tier.String())
		}
		m.byTier[tier].Store(s)
	}
	if s.hits != nil {
		s.hits.Inc()
	}
	if n > 0 {
		s.bytes.Add(float64(n))
	}
}

// record counts one answered request of route r (nil: unrouted) of site
// (nil without sites) in the series of its outcome and status.
func (m *metrics) record(site *Site, r *Route, o outcome, status int, elapsed time.Duration) {
	rs := &m.unrouted
	if r != nil {
		rs = &r.series
	}
	class := statusClass(status)
	s := rs.cells[o][class].Load()
	if s == nil {
		s = m.newSeries(site, r, o, class)
		rs.cells[o][class].Store(s) // racing first uses store the same series
	}
	s.requests.Inc()
	s.duration.Observe(elapsed.Seconds())
}

// routeLabels are the site and route label values of request series.
type routeLabels struct{ site, route string }

// forgetRoutes deletes the request series of the routes in old that are
// not in current: a configuration reload removed them, and their series
// would otherwise be exported until the process ends.
func (m *metrics) forgetRoutes(old, current map[routeLabels]bool) {
	for l := range old {
		if current[l] {
			continue
		}
		match := prometheus.Labels{"site": l.site, "route": l.route}
		m.requests.DeletePartialMatch(match)
		m.duration.DeletePartialMatch(match)
	}
}

// newSeries looks up the series of one cell of a route's cache.
func (m *metrics) newSeries(site *Site, r *Route, o outcome, class int) *requestSeries {
	var siteName, route string
	if r != nil {
		route = r.PathPrefix
		if site != nil {
			siteName = site.Name
		}
	}
	labels := []string{siteName, route, statusClassNames[class], o.String()}
	return &requestSeries{requests: m.requests.WithLabelValues(labels...), duration: m.duration.WithLabelValues(labels...)}
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
	// outcomeBadRequestBody: a pass-through refused or failed for the
	// client's own request body (cut short, malformed, too slow, too
	// large; the status says which), not for the upstream, which a log
	// reader must tell apart from an upstream error.
	outcomeBadRequestBody
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"error", "hit", "stale", "miss", "revalidated", "stale-if-error", "pass", "bad-request-body"}

func (o outcome) String() string { return outcomeNames[o] }
