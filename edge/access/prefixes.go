package access

import (
	"fmt"
	"net/netip"
)

// prefixSet is a list of masked, unmapped networks, scanned linearly: per
// site lists are short, and a scan of a few dozen prefixes costs less than a
// trie walk's pointer chasing. Lists in the thousands want a trie.
type prefixSet []netip.Prefix

func newPrefixSet(field string, ps []netip.Prefix) (prefixSet, error) {
	out := make(prefixSet, 0, len(ps))
	for i, p := range ps {
		if !p.IsValid() {
			return nil, fieldErr(fmt.Sprintf("%s[%d]", field, i), "invalid network %q", p)
		}
		out = append(out, unmapPrefix(p))
	}
	return out, nil
}

func (s prefixSet) contains(a netip.Addr) bool {
	for _, p := range s {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// unmapPrefix turns ::ffff:10.0.0.0/104 into 10.0.0.0/8, to match the
// unmapped client addresses Check compares against.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	a := p.Addr()
	if a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
	}
	return netip.PrefixFrom(a.WithZone(""), p.Bits()).Masked()
}
