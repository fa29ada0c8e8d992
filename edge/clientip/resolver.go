package clientip

import (
	"net/http"
	"net/netip"
	"net/textproto"
	"strings"

	"edged/internal/netaddr"
	"edged/internal/prefixset"
)

// DefaultHeader is the header read when Options.Header is empty.
const DefaultHeader = "X-Forwarded-For"

// Options configure a Resolver.
type Options struct {
	// TrustedProxies are the networks whose forwarding information is
	// believed. Empty means no proxy is trusted: the socket peer is always
	// the client.
	TrustedProxies []netip.Prefix
	// Header holds the comma-separated list of forwarded addresses, each
	// proxy appending the address it received the request from. Empty means
	// DefaultHeader. "X-Real-IP" works too (a list of one).
	Header string
}

// Resolver answers the client address of a request. The zero value trusts
// no proxy and reads DefaultHeader (which it never needs).
type Resolver struct {
	trusted prefixset.Set
	header  string // canonical MIME form, so lookups do not allocate
}

// New returns a Resolver for opts. Invalid prefixes in TrustedProxies are
// ignored; callers validate configuration beforehand (see netip.Prefix.IsValid).
func New(opts Options) *Resolver {
	h := opts.Header
	if h == "" {
		h = DefaultHeader
	}
	return &Resolver{
		trusted: newPrefixSet(opts.TrustedProxies),
		header:  textproto.CanonicalMIMEHeaderKey(h),
	}
}

// Trusted reports whether addr is in the trusted-proxies list.
func (r *Resolver) Trusted(addr netip.Addr) bool {
	return r.trusted.Contains(normalize(addr))
}

// FromTrustedProxy reports whether req's socket peer (RemoteAddr, the
// PROXY protocol's source when the listener reads one) is a trusted proxy,
// whose forwarding fields are believed.
func (r *Resolver) FromTrustedProxy(req *http.Request) bool {
	peer, ok := parseHostPort(req.RemoteAddr)
	return ok && r.trusted.Contains(peer)
}

// ClientIP returns the client address of req: the socket peer, or, when the
// peer is a trusted proxy, the rightmost address of the forwarding header
// that is not itself trusted. It returns the zero Addr only when
// req.RemoteAddr cannot be parsed.
func (r *Resolver) ClientIP(req *http.Request) netip.Addr {
	peer, ok := parseHostPort(req.RemoteAddr)
	if !ok || !r.trusted.Contains(peer) {
		return peer
	}
	return r.walk(peer, req.Header[r.header])
}

// walk goes through the forwarding field right to left. Several field lines
// form one list in order (RFC 9110 §5.3), so the last line is read first.
func (r *Resolver) walk(peer netip.Addr, lines []string) netip.Addr {
	client := peer
	for i := len(lines) - 1; i >= 0; i-- {
		line := lines[i]
		for line != "" {
			var entry string
			if j := strings.LastIndexByte(line, ','); j >= 0 {
				entry, line = line[j+1:], line[:j]
			} else {
				entry, line = line, ""
			}
			addr, ok := parseEntry(entry)
			if !ok {
				// Malformed: nothing to its left can be trusted either.
				return client
			}
			client = addr
			if !r.trusted.Contains(addr) {
				return client
			}
		}
	}
	return client
}

// parseEntry parses one forwarded address: "1.2.3.4", "2001:db8::1", or the
// same with a port ("1.2.3.4:80", "[2001:db8::1]:80"), surrounded by
// optional whitespace (RFC 9110 §5.6.1 list OWS).
func parseEntry(s string) (netip.Addr, bool) {
	s = strings.Trim(s, " \t")
	if s == "" {
		return netip.Addr{}, false
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return normalize(a), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return normalize(ap.Addr()), true
	}
	return netip.Addr{}, false
}

// parseHostPort parses http.Request.RemoteAddr ("ip:port", or a bare ip when
// a listener wrapper sets one).
func parseHostPort(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return normalize(ap.Addr()), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return normalize(a), true
	}
	return netip.Addr{}, false
}

// normalize unmaps IPv4-mapped IPv6 addresses and drops zones, so that rules
// written for IPv4 match dual-stack sockets.
func normalize(a netip.Addr) netip.Addr {
	return a.Unmap().WithZone("")
}

// Network is what a per-client bound counts addr as: an IPv4 address
// itself, an IPv6 address its /64. A /64 is one network (a home, a LAN, a
// host's SLAAC range), and its holder may send from any of its 2^64
// addresses: counted by address, one IPv6 client had a bound's worth of
// connections or uploads per address it cared to use. ratelimit counts an
// IPv6 client per /64 too (its default IPv6PrefixLen).
func Network(addr netip.Addr) netip.Addr {
	return netaddr.ClientNetwork(addr, 64)
}
