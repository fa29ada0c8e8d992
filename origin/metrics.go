package origin

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"edged/internal/promreg"
)

// Pool names of the servers that belong to no Pool, in the pool label.
const (
	shieldsPoolName = "shields" // Options.Shields
	originPoolName  = "origin"  // Options.Origin
)

// serverMetrics are the series of one upstream server: an origin server of
// a pool, or a shield. Every label value comes from the configuration (the
// pool's name and the server's configured URL), so the number of series is
// bounded by it. A nil *serverMetrics records nothing.
type serverMetrics struct {
	up        prometheus.Gauge // nil for shields: they have no active checks
	ejections prometheus.Counter
	requests  prometheus.Counter
	latency   prometheus.Observer
}

// attachMetrics registers the server vectors on reg (shared with every
// other pool and client registered there) and gives each of servers its
// series under pool. withUp adds edged_origin_up, for servers with an
// active-check verdict. It returns the vectors, for deleting a server's
// series; a nil reg attaches nothing.
func attachMetrics(reg prometheus.Registerer, pool string, servers []*upstream, withUp bool) ([]*prometheus.MetricVec, error) {
	if reg == nil {
		return nil, nil
	}
	labels := []string{"pool", "server"}
	var up *prometheus.GaugeVec
	var upErr error
	if withUp {
		up, upErr = promreg.Shared(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "edged_origin_up",
			Help: "Whether the active health checks consider the origin server up (1) or down (0); 1 without checks.",
		}, labels))
	}
	ejections, ejectionsErr := promreg.Shared(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edged_origin_ejections_total",
		Help: "Passive health check ejections of the origin server or shield.",
	}, labels))
	requests, requestsErr := promreg.Shared(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edged_origin_requests_total",
		Help: "Requests sent to the origin server or shield (each retry counts).",
	}, labels))
	latency, latencyErr := promreg.Shared(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "edged_origin_response_seconds",
		Help:    "Time from sending a request to the origin server or shield to its response headers, for each attempt that got a response.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, labels))
	if err := errors.Join(upErr, ejectionsErr, requestsErr, latencyErr); err != nil {
		return nil, err
	}
	for _, s := range servers {
		m := &serverMetrics{
			ejections: ejections.WithLabelValues(pool, s.base),
			requests:  requests.WithLabelValues(pool, s.base),
			latency:   latency.WithLabelValues(pool, s.base),
		}
		if up != nil {
			m.up = up.WithLabelValues(pool, s.base)
			m.setUp(s.up.Load())
		}
		s.metrics = m
	}
	vecs := []*prometheus.MetricVec{ejections.MetricVec, requests.MetricVec, latency.MetricVec}
	if up != nil {
		vecs = append(vecs, up.MetricVec)
	}
	return vecs, nil
}

func (m *serverMetrics) setUp(isUp bool) {
	if m == nil || m.up == nil {
		return
	}
	v := 0.0
	if isUp {
		v = 1
	}
	m.up.Set(v)
}

func (m *serverMetrics) ejected() {
	if m != nil {
		m.ejections.Inc()
	}
}

func (m *serverMetrics) request() {
	if m != nil {
		m.requests.Inc()
	}
}

// responded records the time an attempt took to get response headers.
func (m *serverMetrics) responded(start time.Time) {
	if m != nil {
		m.latency.Observe(time.Since(start).Seconds())
	}
}

// DeleteServerMetrics deletes the metric series of the server at url (as
// [ServerStatus.URL] names it) from the pool's vectors: a server removed
// from the configuration by a reload would otherwise be reported for good,
// with its last values. Pools of one name share their series, so call it
// only once no pool of this name has that server any more; p itself must
// be closed.
func (p *Pool) DeleteServerMetrics(url string) {
	for _, v := range p.metricVecs {
		v.DeleteLabelValues(p.name, url)
	}
}

// DeleteShieldMetrics deletes the metric series of the shield at url (as
// [Client.Shields] names it), as [Pool.DeleteServerMetrics] does for a pool
// server: a shield removed from the configuration by a reload would
// otherwise be reported for good, with its last values. Every client's
// shields share their series (pool "shields"), so call it only once no
// client in use has that shield; c itself must be closed.
func (c *Client) DeleteShieldMetrics(url string) {
	for _, v := range c.shieldVecs {
		v.DeleteLabelValues(shieldsPoolName, url)
	}
}

// DeleteOriginMetrics deletes the metric series of the server of
// Options.Origin ([Client.Origin]; pool "origin"), edged_origin_up
// included, for the same reason. Clients of one Options.Origin share
// them, so call it only once no client in use has that origin; c itself
// must be closed. A client without Options.Origin deletes nothing.
func (c *Client) DeleteOriginMetrics() {
	if c.ownPool {
		c.pool.DeleteServerMetrics(c.Origin())
	}
}
