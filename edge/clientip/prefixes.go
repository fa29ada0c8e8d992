package clientip

import "net/netip"

// prefixSet is a list of masked, unmapped networks. Lists of trusted proxies
// are short (a load balancer tier, a CDN's published ranges), so a linear scan
// beats anything cleverer.
type prefixSet []netip.Prefix

func newPrefixSet(ps []netip.Prefix) prefixSet {
	out := make(prefixSet, 0, len(ps))
	for _, p := range ps {
		if !p.IsValid() {
			continue
		}
		out = append(out, unmapPrefix(p))
	}
	return out
}

func (s prefixSet) contains(a netip.Addr) bool {
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

// unmapPrefix turns ::ffff:10.0.0.0/104 into 10.0.0.0/8 so that it matches
// the unmapped addresses we compare against.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	a := p.Addr()
	if a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
	}
	return netip.PrefixFrom(a.WithZone(""), p.Bits()).Masked()
}
