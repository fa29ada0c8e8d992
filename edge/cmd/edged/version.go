package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// build is what the binary knows of how it was built, from the Go
// toolchain's stamp (runtime/debug.ReadBuildInfo): no -ldflags needed.
type build struct {
	Version   string // the module version ("(devel)" for a build from a checkout)
	Revision  string // the VCS commit, "+dirty" when the tree had changes; "unknown" without VCS
	GoVersion string
}

// readBuild reads the toolchain's stamp; a binary without one (go run of a
// file list, some test binaries) still answers, with "unknown".
func readBuild() build {
	b := build{Version: "unknown", Revision: "unknown", GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if bi.Main.Version != "" {
		b.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		b.GoVersion = bi.GoVersion
	}
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if modified && b.Revision != "unknown" {
		b.Revision += "+dirty"
	}
	return b
}

func printVersion(w io.Writer, b build) {
	fmt.Fprintf(w, "edged %s (revision %s, %s)\n", b.Version, b.Revision, b.GoVersion)
}

// registerBuildInfo exports edged_build_info{version,revision,goversion} 1,
// the Prometheus convention for joining a build to other series (and for
// seeing which nodes of a fleet still run an old binary).
func registerBuildInfo(reg prometheus.Registerer, b build) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "edged_build_info",
		Help:        "Always 1; the labels name the running binary's version, VCS revision and Go version.",
		ConstLabels: prometheus.Labels{"version": b.Version, "revision": b.Revision, "goversion": b.GoVersion},
	})
	g.Set(1)
	reg.MustRegister(g)
}
