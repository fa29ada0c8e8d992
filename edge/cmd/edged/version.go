package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"edged/internal/buildinfo"
)

// registerBuildInfo exports edged_build_info{version,revision,goversion} 1,
// the Prometheus convention for joining a build to other series (and for
// seeing which nodes of a fleet still run an old binary).
func registerBuildInfo(reg prometheus.Registerer, b buildinfo.Info) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "edged_build_info",
		Help:        "Always 1; the labels name the running binary's version, VCS revision and Go version.",
		ConstLabels: prometheus.Labels{"version": b.Version, "revision": b.Revision, "goversion": b.GoVersion},
	})
	g.Set(1)
	reg.MustRegister(g)
}
