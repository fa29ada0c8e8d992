// Package portset is a set of TCP ports written as single ports and
// ranges ("443", "1025-65535"): the forward proxy's connect_ports and
// http_ports, and its access rules' ports, are written this way.
//
// A port is 1 to 65535 in decimal; a range LOW-HIGH holds both ends, LOW
// at most HIGH. Lookups scan the list: such lists are a handful of
// entries.
package portset

import (
	"fmt"
	"strconv"
	"strings"
)

// Range is the ports Lo to Hi, both included.
type Range struct{ Lo, Hi uint16 }

// Parse reads "443" or "8000-8999" (spaces around a number are allowed).
func Parse(s string) (Range, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		hi = lo
	}
	a, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
	b, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
	if err1 != nil || err2 != nil || a == 0 || b < a {
		return Range{}, fmt.Errorf("%q: want a port (1-65535) or a range LOW-HIGH", s)
	}
	return Range{uint16(a), uint16(b)}, nil
}

// ParseList reads each entry of list as Parse does and returns the Set of
// those that parse, in order. bad, unless nil, is told the index and error
// of each entry that does not (the caller names the field); a list read
// for a check and a list read for use are read alike.
func ParseList(list []string, bad func(i int, err error)) Set {
	s := make(Set, 0, len(list))
	for i, p := range list {
		r, err := Parse(p)
		if err != nil {
			if bad != nil {
				bad(i, err)
			}
			continue
		}
		s = append(s, r)
	}
	return s
}

// Set is a list of ranges; the zero Set holds no port.
type Set []Range

// Contains reports whether port is in one of s's ranges.
func (s Set) Contains(port int) bool {
	for _, r := range s {
		if port >= int(r.Lo) && port <= int(r.Hi) {
			return true
		}
	}
	return false
}

// Overlaps reports whether s holds any port of r.
func (s Set) Overlaps(r Range) bool {
	for _, x := range s {
		if x.Lo <= r.Hi && r.Lo <= x.Hi {
			return true
		}
	}
	return false
}
