// Package prefixset is a set of IP networks to test client and peer
// addresses against: access rules, trusted proxies.
//
// Networks are stored masked and unmapped (an IPv4-mapped IPv6 network such
// as ::ffff:10.0.0.0/104 becomes 10.0.0.0/8, RFC 4291 §2.5.5.2), and
// Contains expects an unmapped address, so an IPv4 client matches an IPv4
// network whichever way either was written. Zones are dropped. Lookups scan
// the list: the lists edged keeps (a site's rules, a load-balancer tier, a
// CDN's published ranges) are short, and a scan of a few dozen networks
// costs less than a trie's pointer chasing; lists in the thousands would
// want a trie.
package prefixset

import (
	"errors"
	"fmt"
	"net/netip"
)

// Set is a list of masked, unmapped networks. The zero Set is empty.
type Set []netip.Prefix

// InvalidError reports a network that is not valid (the zero
// netip.Prefix, or one whose bits exceed its address family's length).
type InvalidError struct {
	Index  int // its position in the list given to New
	Prefix netip.Prefix
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("invalid network %q at index %d", e.Prefix, e.Index)
}

// New returns the set of the valid networks in ps and, if any was invalid,
// an error joining an *InvalidError for each of them.
func New(ps []netip.Prefix) (Set, error) {
	out := make(Set, 0, len(ps))
	var errs []error
	for i, p := range ps {
		if !p.IsValid() {
			errs = append(errs, &InvalidError{Index: i, Prefix: p})
			continue
		}
		out = append(out, unmap(p))
	}
	return out, errors.Join(errs...)
}

// Contains reports whether a, an unmapped address (netip.Addr.Unmap), is in
// one of the networks. The invalid address is in none.
func (s Set) Contains(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range s {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// unmap turns ::ffff:10.0.0.0/104 into 10.0.0.0/8, to match the unmapped
// addresses Contains compares against, and drops a zone.
func unmap(p netip.Prefix) netip.Prefix {
	a := p.Addr()
	if a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
	}
	return netip.PrefixFrom(a.WithZone(""), p.Bits()).Masked()
}
