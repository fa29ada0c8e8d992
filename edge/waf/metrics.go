package waf

import (
	"github.com/prometheus/client_golang/prometheus"

	"edged/internal/promreg"
)

// Metrics counts inspected requests by site, route (its path prefix) and
// Action: labels the configuration bounds. A nil *Metrics counts nothing.
type Metrics struct {
	requests *prometheus.CounterVec
}

// NewMetrics registers the WAF's counter on reg (nil: kept, not exported).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{requests: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edged_waf_requests_total",
		Help: "Requests inspected by a route's WAF, by site, route and action (pass, detected, blocked).",
	}, []string{"site", "route", "action"})}
	if err := promreg.All(reg, m.requests); err != nil {
		return nil, err
	}
	return m, nil
}

// Count adds one request of site and route with action a.
func (m *Metrics) Count(site, route string, a Action) {
	if m != nil {
		m.requests.WithLabelValues(site, route, a.String()).Inc()
	}
}
