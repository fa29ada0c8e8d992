// Package netaddr holds the two readings of addresses that several of
// edged's packages must make alike: whether a host is this machine's
// loopback, and which network a client address counts as.
package netaddr

import (
	"net/netip"
	"strings"
)

// IsLoopbackHost reports whether host (a name or an IP literal, without
// port or brackets) is this machine's loopback: "localhost" (any letter
// case) or an address of 127.0.0.0/8 or ::1, an IPv4-mapped one included.
// Other names are not looked up: what they resolve to may change.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// ClientNetwork is what one client is counted as: an IPv4 address itself
// (an IPv4-mapped IPv6 address unmapped), an IPv6 address its network of
// v6bits bits (1 to 128; 128 is the address itself). Zones are dropped. A
// holder of an IPv6 network may send from any of its addresses, so
// counted by address one client would get a budget per address it cared
// to use.
func ClientNetwork(a netip.Addr, v6bits int) netip.Addr {
	a = a.Unmap().WithZone("")
	if a.Is6() && v6bits < 128 {
		p, _ := a.Prefix(v6bits)
		return p.Addr()
	}
	return a
}
