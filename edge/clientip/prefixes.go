package clientip

import (
	"net/netip"

	"edged/internal/prefixset"
)

// newPrefixSet is the set of trusted proxies' networks. Invalid networks are
// skipped: callers validate configuration beforehand (netip.Prefix.IsValid).
// Lists of trusted proxies are short (a load balancer tier, a CDN's
// published ranges), so prefixset's linear scan beats anything cleverer.
func newPrefixSet(ps []netip.Prefix) prefixset.Set {
	s, _ := prefixset.New(ps)
	return s
}
