package forward

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ErrRefusedDestination is wrapped by the Dialer's errors for an address
// it must not reach: loopback, private, link-local, metadata and the
// like, or one of the proxy's own listeners.
var ErrRefusedDestination = errors.New("destination refused")

// DialerOptions configure a Dialer.
type DialerOptions struct {
	// Timeout bounds a connect. Zero means 10 seconds.
	Timeout time.Duration
	// Allow are destination networks reached even though they are
	// loopback, private, link-local or otherwise refused. Tests allow
	// 127.0.0.0/8 here; a proxy for an intranet lists its networks.
	Allow []netip.Prefix
	// Resolver looks names up; nil means net.DefaultResolver.
	Resolver *net.Resolver
}

// Dialer connects to destinations on behalf of clients. The check runs in
// net.Dialer's Control hook, on the address actually dialled after DNS
// resolution, so a name that resolves (or is rebound) to a refused address
// is refused too: there is no window between a check and a connect.
//
// Refused unless Allow lists them: unspecified, loopback, private (RFC 1918,
// RFC 4193), link-local (RFC 3927, RFC 4291; 169.254.169.254 is the cloud
// metadata service), shared address space (RFC 6598), multicast, reserved
// and broadcast addresses, fd00:ec2::254 (AWS metadata over IPv6), IPv4-mapped
// and NAT64 forms of those, and always the proxy's own listeners (a loop).
type Dialer struct {
	policy   atomic.Pointer[dialPolicy] // Timeout and Allow; Reconfigure swaps them
	resolver *net.Resolver

	mu  sync.Mutex                       // serializes RefuseListener
	own atomic.Pointer[[]netip.AddrPort] // read on every request: no lock to share between cores

	lookups lookupCache // the proxy's own lookups (resolve), not the dial's
	local   localAddrs  // this host's addresses, for isOwn
}

// localAddrs caches this host's interface addresses for localTTL: with a
// listener on an unspecified address every request's destination is
// checked against them, and net.InterfaceAddrs is a netlink round trip.
type localAddrs struct {
	mu    sync.Mutex // guards the rest
	addrs []netip.Addr
	at    time.Time
}

const localTTL = time.Second

// has reports whether ip is an address of this host's interfaces, as
// they were at most localTTL ago.
func (l *localAddrs) has(ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now := time.Now(); l.at.IsZero() || now.Sub(l.at) >= localTTL {
		l.addrs, l.at = interfaceAddrs(), now
	}
	return slices.Contains(l.addrs, ip)
}

// lookupCache remembers the proxy's lookups for a few seconds, so that a
// hit on a named host does not wait for DNS. Only the proxy's early check
// and its rules read it: the dial always resolves afresh and checks what
// it dials.
type lookupCache struct {
	mu sync.Mutex // guards m
	m  map[string]cachedLookup
}

type cachedLookup struct {
	ips     []netip.Addr
	expires time.Time
}

const (
	lookupTTL     = 5 * time.Second
	maxLookups    = 4096
	lookupTimeout = 5 * time.Second
)

func (c *lookupCache) get(host string, now time.Time) ([]netip.Addr, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.m[host]
	if !ok || now.After(l.expires) {
		return nil, false
	}
	return l.ips, true
}

func (c *lookupCache) put(host string, ips []netip.Addr, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxLookups {
		c.m = make(map[string]cachedLookup) // a bound, not a policy
	}
	c.m[host] = cachedLookup{ips: ips, expires: now.Add(lookupTTL)}
}

// dialPolicy is what a Dialer's Reconfigure may change.
type dialPolicy struct {
	timeout time.Duration
	allow   []netip.Prefix
}

// NewDialer returns a Dialer for opts.
func NewDialer(opts DialerOptions) *Dialer {
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	d := &Dialer{resolver: opts.Resolver}
	d.Reconfigure(opts)
	return d
}

// Reconfigure applies opts's Timeout and Allow (zero Timeout: the
// default) to every dial and check from now on (a reload); the Resolver
// and the refused listeners stay. A connection already open stays open,
// even to a network Allow no longer lists: the proxy checks each request's
// destination before it reaches the cache (precheck), so an idle pooled
// connection there is not used again.
func (d *Dialer) Reconfigure(opts DialerOptions) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultDialTimeout
	}
	d.policy.Store(&dialPolicy{timeout: opts.Timeout, allow: slices.Clone(opts.Allow)})
}

// RefuseListener adds a listening address of this proxy to the refused
// destinations: a request to the proxy itself would loop. An unspecified
// address (":3128") stands for the port on every local address.
func (d *Dialer) RefuseListener(addr net.Addr) {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return
	}
	own := []netip.AddrPort{netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}
	if ap.Addr().IsUnspecified() {
		own = append(own, netip.AddrPortFrom(netip.IPv4Unspecified(), ap.Port()), netip.AddrPortFrom(netip.IPv6Unspecified(), ap.Port()))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var next []netip.AddrPort
	if cur := d.own.Load(); cur != nil {
		next = slices.Clone(*cur)
	}
	next = append(next, own...)
	d.own.Store(&next)
}

// DialContext connects to addr (host:port) over TCP, refusing what the
// Dialer must not reach. It fits origin.Options.Dial.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	nd := net.Dialer{
		Timeout:   d.policy.Load().timeout,
		KeepAlive: 30 * time.Second,
		Resolver:  d.resolver,
		Control:   d.control,
	}
	conn, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return conn, nil
}

// control runs for every address the net.Dialer tries, after resolution
// and before connect(2).
func (d *Dialer) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: unparsable address %q", ErrRefusedDestination, address)
	}
	return d.Check(ap)
}

// Check reports whether ap may be dialled: nil, or an error wrapping
// ErrRefusedDestination that says why.
func (d *Dialer) Check(ap netip.AddrPort) error {
	ip := ap.Addr().Unmap().WithZone("")
	if d.isOwn(ip, ap.Port()) {
		return fmt.Errorf("%w: %s is this proxy (a request loop)", ErrRefusedDestination, ap)
	}
	for _, p := range d.policy.Load().allow {
		if p.Contains(ip) {
			return nil
		}
	}
	if why := refusedKind(ip); why != "" {
		return fmt.Errorf("%w: %s is %s", ErrRefusedDestination, ip, why)
	}
	return nil
}

// isOwn reports whether ip:port is one of the proxy's listeners. A
// listener on an unspecified address takes the port on every local
// address; loopback and unspecified ones stand for them.
func (d *Dialer) isOwn(ip netip.Addr, port uint16) bool {
	own := d.own.Load()
	if own == nil {
		return false
	}
	for _, o := range *own {
		if o.Port() != port {
			continue
		}
		// A connection to 0.0.0.0 or :: reaches this host (Linux routes it
		// to a local address), so it reaches every listener on the port,
		// a loopback one included.
		if o.Addr() == ip || ip.IsUnspecified() || o.Addr().IsUnspecified() && (ip.IsLoopback() || d.local.has(ip)) {
			return true
		}
	}
	return false
}

// interfaceAddrs returns the addresses of this host's interfaces (none
// if they cannot be read).
func interfaceAddrs() []netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if x, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, x.Unmap())
			}
		}
	}
	return out
}

// refused are the special-purpose networks (IANA registries, RFC 6890)
// that a forward proxy must not reach for its clients.
var refused = []struct {
	p   netip.Prefix
	why string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "\"this network\" (RFC 791)"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private (RFC 1918)"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared address space (RFC 6598)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback (RFC 1122)"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local (RFC 3927), home of the 169.254.169.254 metadata service"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private (RFC 1918)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments (RFC 6890)"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private (RFC 1918)"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking (RFC 2544)"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved (RFC 1112), broadcast included"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback (RFC 4291)"},
	{netip.MustParsePrefix("fc00::/7"), "unique local (RFC 4193), fd00:ec2::254 metadata included"},
	{netip.MustParsePrefix("fe80::/10"), "link-local (RFC 4291)"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation (RFC 3849)"},
	// The rest of the IANA special-purpose registries' entries that are
	// not globally reachable. Some carry an IPv4 address in a form the
	// embedded-address check below does not read (local-use NAT64 may put
	// it anywhere, Teredo obfuscates it), so they are refused whole.
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation (RFC 5737)"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation (RFC 5737)"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation (RFC 5737)"},
	{netip.MustParsePrefix("192.88.99.0/24"), "6to4 relay anycast (RFC 7526), deprecated"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64 (RFC 8215)"},
	{netip.MustParsePrefix("::ffff:0:0:0/96"), "IPv4-translated (RFC 6145)"},
	{netip.MustParsePrefix("100::/64"), "discard-only (RFC 6666)"},
	{netip.MustParsePrefix("2001::/32"), "Teredo (RFC 4380)"},
	{netip.MustParsePrefix("2001:10::/28"), "ORCHID (RFC 4843)"},
	{netip.MustParsePrefix("2001:20::/28"), "ORCHIDv2 (RFC 7343)"},
	{netip.MustParsePrefix("3fff::/20"), "documentation (RFC 9637)"},
	{netip.MustParsePrefix("fec0::/10"), "site-local (RFC 3879), deprecated"},
}

// IPv6 networks whose addresses carry an IPv4 address.
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052
	compat4   = netip.MustParsePrefix("::/96")        // RFC 4291 §2.5.5.1, deprecated
	sixToFour = netip.MustParsePrefix("2002::/16")    // RFC 3056
)

// refused4 marks the first octets of the IPv4 addresses some refused
// network holds. Built from refused, it cannot disagree with it: an
// address whose first octet is unmarked is in none of them, which spares
// the usual destination (a public address) the walk through the list on
// every request.
var refused4 = func() (m [256]bool) {
	for _, r := range refused {
		if !r.p.Addr().Is4() {
			continue
		}
		first, span := int(r.p.Addr().As4()[0]), 1
		if r.p.Bits() < 8 {
			span = 1 << (8 - r.p.Bits())
		}
		for i := range span {
			m[first+i] = true
		}
	}
	return m
}()

// refusedKind says which refused network ip is in, "" for none. IPv6
// forms that carry an IPv4 address (NAT64 64:ff9b::/96, 6to4 2002::/16,
// IPv4-compatible ::/96) are judged by that address too.
func refusedKind(ip netip.Addr) string {
	if ip.Is4() && !refused4[ip.As4()[0]] {
		return ""
	}
	return refusedIn(ip)
}

// RefusedNetwork says why the Dialer refuses every address of p ("private
// (RFC 1918)"), or "" when it may reach some of them: both ends of p lie
// in the same refused network. DialerOptions.Allow is not consulted.
func RefusedNetwork(p netip.Prefix) string {
	p = p.Masked()
	first := p.Addr()
	b := first.AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	last, _ := netip.AddrFromSlice(b)
	for _, r := range refused {
		if r.p.Contains(first) && r.p.Contains(last) {
			return r.why
		}
	}
	return ""
}

// refusedIn is refusedKind without the first-octet shortcut.
func refusedIn(ip netip.Addr) string {
	for _, r := range refused {
		if r.p.Contains(ip) {
			return r.why
		}
	}
	if ip.Is6() {
		b := ip.As16()
		var v4 netip.Addr
		switch {
		case nat64.Contains(ip), compat4.Contains(ip):
			v4 = netip.AddrFrom4([4]byte(b[12:16]))
		case sixToFour.Contains(ip):
			v4 = netip.AddrFrom4([4]byte(b[2:6]))
		}
		if v4.IsValid() {
			if why := refusedKind(v4); why != "" {
				return why + " (embedded in " + ip.String() + ")"
			}
		}
	}
	return ""
}

// resolve returns the addresses of dst's host: the literal itself, or what
// the Dialer's resolver said within the last lookupTTL.
func (d *Dialer) resolve(ctx context.Context, dst destination) ([]netip.Addr, error) {
	if dst.ip.IsValid() {
		return []netip.Addr{dst.ip}, nil
	}
	now := time.Now()
	if ips, ok := d.lookups.get(dst.host, now); ok {
		return ips, nil
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	ips, err := d.resolver.LookupNetIP(ctx, "ip", dst.host)
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) {
			// The text goes to the client: it must not name the proxy's
			// DNS server, which the resolver's own text may hold.
			e := *dnsErr
			e.Server, e.Err = "", "lookup failed"
			switch {
			case e.IsNotFound:
				e.Err = "no such host"
			case e.IsTimeout:
				e.Err = "lookup timed out"
			}
			err = &e
		}
		return nil, fmt.Errorf("resolve %s: %w", dst.host, err)
	}
	for i := range ips {
		ips[i] = ips[i].Unmap()
	}
	d.lookups.put(dst.host, ips, now)
	return ips, nil
}

// precheck refuses a destination every address of which the Dialer would
// refuse, so that the client gets a 403 naming the reason rather than a
// 502 from the dial. It is a courtesy: the dial itself checks again.
func (d *Dialer) precheck(ips []netip.Addr, port int) error {
	var first error
	for _, ip := range ips {
		err := d.Check(netip.AddrPortFrom(ip, uint16(port)))
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return first
}
