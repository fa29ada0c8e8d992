package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ByteSize is a number of bytes written in YAML as a plain integer or as a
// string with a unit: decimal B, kB, MB, GB, TB (powers of 1000) or binary
// KiB, MiB, GiB, TiB (powers of 1024). Units are case-insensitive and a
// fraction is allowed ("1.5GiB"). Negative sizes are rejected.
type ByteSize int64

var sizeUnits = map[string]float64{
	"":    1,
	"b":   1,
	"kb":  1e3,
	"mb":  1e6,
	"gb":  1e9,
	"tb":  1e12,
	"kib": 1 << 10,
	"mib": 1 << 20,
	"gib": 1 << 30,
	"tib": 1 << 40,
}

// ParseByteSize parses s as described on [ByteSize].
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult, ok := sizeUnits[unit]
	if num == "" || !ok {
		return 0, fmt.Errorf("invalid size %q (want bytes or a number with B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)", s)
	}
	if !strings.Contains(num, ".") {
		n, err := strconv.ParseInt(num, 10, 64)
		if err == nil && n <= math.MaxInt64/int64(mult) {
			return ByteSize(n * int64(mult)), nil
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	v := f * mult
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return ByteSize(v), nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return nodeErrorf(n, "invalid size: want a scalar like \"256MiB\"")
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return nodeErrorf(n, "%v", err)
	}
	*b = v
	return nil
}

// MarshalYAML implements yaml.Marshaler, writing the size as String does.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }

// String formats b with the unit, binary or decimal, that divides it
// exactly in the fewest digits (binary on a tie), so that a size is shown
// as it was likely written: 1GB as "1GB", not "1000000000", and 2GB as
// "2GB", not "1953125KiB".
func (b ByteSize) String() string {
	best := strconv.FormatInt(int64(b), 10)
	if b == 0 {
		return best
	}
	digits := len(best)
	for _, u := range []struct {
		name string
		mult int64
	}{{"TiB", 1 << 40}, {"TB", 1e12}, {"GiB", 1 << 30}, {"GB", 1e9}, {"MiB", 1 << 20}, {"MB", 1e6}, {"KiB", 1 << 10}, {"kB", 1e3}} {
		if int64(b)%u.mult != 0 {
			continue
		}
		if n := strconv.FormatInt(int64(b)/u.mult, 10); len(n) < digits {
			best, digits = n+u.name, len(n)
		}
	}
	return best
}
