package config

import (
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written in YAML as a Go duration string
// ("30s", "1m30s", "24h"). A bare number is rejected, because "30" would
// otherwise silently mean 30 nanoseconds; "0" is the only unitless value.
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d as time.Duration does.
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return nodeErrorf(n, "invalid duration: want a string like \"30s\"")
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return nodeErrorf(n, "invalid duration %q (want a number with a unit: ms, s, m, h)", n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }
