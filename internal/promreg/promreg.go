// Package promreg registers Prometheus collectors the way every package of
// edged does: a package registers all of its collectors on the Registerer
// its Options name, or none of them, and a nil Registerer means metrics are
// off. Packages that build one set of series per instance (origin's pools)
// share the vectors the first instance registered.
package promreg

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// All registers every collector on reg, or none: when one fails (a name
// registered already), those registered before it are unregistered again,
// so a failed New leaves the registry as it found it. A nil reg registers
// nothing.
func All(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return err
		}
	}
	return nil
}

// Shared registers c on reg, or, when an equal collector (same names,
// help and labels) was registered before, returns that one, so that
// several instances (origin's pools) add their series to one vector.
func Shared[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}
