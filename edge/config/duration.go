package config

import (
	"strconv"
	"strings"
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
		// Days are the unit people reach for (purge.retention: 7d); Go's
		// durations stop at hours, so say what to write instead.
		if days, ok := strings.CutSuffix(n.Value, "d"); ok {
			if f, err := strconv.ParseFloat(days, 64); err == nil && f > 0 && f < 1e6 {
				return nodeErrorf(n, "invalid duration %q: days are not a unit (the largest is h): write %s", n.Value, strconv.FormatFloat(f*24, 'f', -1, 64)+"h")
			}
		}
		return nodeErrorf(n, "invalid duration %q (want a number with a unit: ms, s, m, h)", n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }
