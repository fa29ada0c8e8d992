package origin

import (
	"github.com/prometheus/client_golang/prometheus"

	"edged/internal/promreg"
)

// poolMetrics are one pool's series. A nil *poolMetrics records nothing.
type poolMetrics struct {
	up        []prometheus.Gauge   // by server index
	ejections []prometheus.Counter // by server index
	requests  []prometheus.Counter // by server index
	// vecs are the vectors the series above belong to, so that a server's
	// series can be deleted (Pool.DeleteServerMetrics): every vector
	// labelled by pool and server must be listed here.
	vecs []*prometheus.MetricVec
}

// newPoolMetrics registers p's metrics on reg; nil reg means none. Vectors
// already registered by another pool are shared.
func newPoolMetrics(reg prometheus.Registerer, p *Pool) (*poolMetrics, error) {
	if reg == nil {
		return nil, nil
	}
	labels := []string{"pool", "server"}
	up, err := promreg.Shared(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "edged_origin_up",
		Help: "Whether the active health checks consider the origin server up (1) or down (0).",
	}, labels))
	if err != nil {
		return nil, err
	}
	ejections, err := promreg.Shared(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edged_origin_ejections_total",
		Help: "Passive health check ejections of the origin server.",
	}, labels))
	if err != nil {
		return nil, err
	}
	requests, err := promreg.Shared(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edged_origin_requests_total",
		Help: "Requests sent to the origin server (each retry counts).",
	}, labels))
	if err != nil {
		return nil, err
	}
	m := &poolMetrics{vecs: []*prometheus.MetricVec{up.MetricVec, ejections.MetricVec, requests.MetricVec}}
	for _, s := range p.servers {
		g := up.WithLabelValues(p.name, s.base)
		if s.up.Load() {
			g.Set(1)
		}
		m.up = append(m.up, g)
		m.ejections = append(m.ejections, ejections.WithLabelValues(p.name, s.base))
		m.requests = append(m.requests, requests.WithLabelValues(p.name, s.base))
	}
	return m, nil
}

func (m *poolMetrics) setUp(up *upstream, isUp bool) {
	if m == nil {
		return
	}
	v := 0.0
	if isUp {
		v = 1
	}
	m.up[up.index].Set(v)
}

func (m *poolMetrics) ejected(up *upstream) {
	if m != nil {
		m.ejections[up.index].Inc()
	}
}

func (m *poolMetrics) request(up *upstream) {
	if m != nil {
		m.requests[up.index].Inc()
	}
}

// DeleteServerMetrics deletes the metric series of the server at url (as
// [ServerStatus.URL] names it) from the pool's vectors: a server removed
// from the configuration by a reload would otherwise be reported for good,
// with its last values. Pools of one name share their series, so call it
// only once no pool of this name has that server any more; p itself must
// be closed.
func (p *Pool) DeleteServerMetrics(url string) {
	if p.metrics == nil {
		return
	}
	for _, v := range p.metrics.vecs {
		v.DeleteLabelValues(p.name, url)
	}
}
