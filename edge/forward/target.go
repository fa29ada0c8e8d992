package forward

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// errBadTarget is wrapped by the target parsers' errors (answered 400).
var errBadTarget = errors.New("bad request target")

// destination is where a request or tunnel goes.
type destination struct {
	host string // lower-case, no trailing dot, no brackets
	port int
	ip   netip.Addr // host as an address when it is an IP literal
}

// authority is host:port for dialling (IPv6 literals bracketed).
func (d destination) authority() string {
	return net.JoinHostPort(d.host, strconv.Itoa(d.port))
}

// parseConnectTarget reads a CONNECT request target: authority-form, a
// host and a port and nothing else (RFC 9112 §3.2.3, RFC 9110 §9.3.6).
// Userinfo, paths and missing or out-of-range ports are refused.
func parseConnectTarget(target string) (destination, error) {
	i := strings.LastIndexByte(target, ':')
	if i < 0 {
		return destination{}, fmt.Errorf("%w: CONNECT needs host:port, got %q", errBadTarget, target)
	}
	port, err := parsePort(target[i+1:])
	if err != nil {
		return destination{}, err
	}
	d, err := parseHost(target[:i])
	d.port = port
	return d, err
}

// parseAbsoluteTarget reads an absolute-form request target (RFC 9112
// §3.2.2) as net/http parsed it. Only http is proxied this way: https goes
// through CONNECT, so that the proxy never sees its plaintext.
func parseAbsoluteTarget(u *url.URL) (destination, error) {
	switch {
	case u.Scheme == "":
		return destination{}, fmt.Errorf("%w: a proxy request needs an absolute URL (http://host/path)", errBadTarget)
	case !strings.EqualFold(u.Scheme, "http"):
		return destination{}, fmt.Errorf("%w: scheme %q is not proxied (https goes through CONNECT)", errBadTarget, u.Scheme)
	case u.User != nil:
		// RFC 9110 §4.2.4: userinfo is deprecated in http URIs; passing it
		// on would also leak credentials into logs and cache keys.
		return destination{}, fmt.Errorf("%w: userinfo in the URL is not allowed", errBadTarget)
	case u.Opaque != "":
		return destination{}, fmt.Errorf("%w: opaque URL", errBadTarget)
	}
	host, port := u.Host, 80
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		if i == len(host)-1 {
			// RFC 3986 §6.2.3: an empty port is the scheme's default.
			return parseHostPort(host[:i], 80)
		}
		p, err := parsePort(host[i+1:])
		if err != nil {
			return destination{}, err
		}
		host, port = host[:i], p
	}
	return parseHostPort(host, port)
}

func parseHostPort(host string, port int) (destination, error) {
	d, err := parseHost(host)
	d.port = port
	return d, err
}

// parsePort reads a port: 1 to 5 decimal digits, 1-65535 (RFC 3986 §3.2.3,
// without the empty port, which names no destination).
func parsePort(s string) (int, error) {
	if s == "" || len(s) > 5 {
		return 0, fmt.Errorf("%w: bad port %q", errBadTarget, s)
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%w: bad port %q", errBadTarget, s)
		}
		n = n*10 + int(s[i]-'0')
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("%w: port %d out of range", errBadTarget, n)
	}
	return n, nil
}

// parseHost reads a host (RFC 3986 §3.2.2): a bracketed IPv6 literal
// without zone, an IPv4 address, or a DNS name of letters, digits, '-',
// '_' and '.' (no percent-encoding: nothing that resolves differently
// than it reads). Names are lower-cased and lose a trailing dot.
func parseHost(h string) (destination, error) {
	if strings.HasPrefix(h, "[") {
		if !strings.HasSuffix(h, "]") {
			return destination{}, fmt.Errorf("%w: unterminated IP literal %q", errBadTarget, h)
		}
		ip, err := netip.ParseAddr(h[1 : len(h)-1])
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return destination{}, fmt.Errorf("%w: bad IPv6 literal %q", errBadTarget, h)
		}
		return destination{host: ip.String(), ip: ip}, nil
	}
	// An address starts with a digit (IPv4) or has a colon (IPv6); a
	// name with neither need not go through the address parser.
	if h != "" && ('0' <= h[0] && h[0] <= '9' || strings.IndexByte(h, ':') >= 0) {
		if ip, err := netip.ParseAddr(h); err == nil {
			if !ip.Is4() {
				return destination{}, fmt.Errorf("%w: IPv6 literal %q needs brackets", errBadTarget, h)
			}
			// netip takes only the canonical dotted quad (no leading
			// zeros, four fields), so h is already ip.String().
			return destination{host: h, ip: ip}, nil
		}
	}
	name := strings.ToLower(strings.TrimSuffix(h, "."))
	if name == "" || len(name) > 253 {
		return destination{}, fmt.Errorf("%w: bad host %q", errBadTarget, h)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return destination{}, fmt.Errorf("%w: bad host %q", errBadTarget, h)
		}
	}
	if strings.Contains(name, "..") || name[0] == '.' || name[len(name)-1] == '.' { // an empty label
		return destination{}, fmt.Errorf("%w: bad host %q", errBadTarget, h)
	}
	if looksNumeric(name) {
		// "0x7f.1", "2130706433", "127.1": resolvers read these as IPv4
		// addresses in forms netip refuses, which would let a name slip
		// past address rules it then dials.
		return destination{}, fmt.Errorf("%w: numeric host %q is not a dotted-quad address", errBadTarget, h)
	}
	return destination{host: name}, nil
}

// looksNumeric reports whether the last label of name starts with a digit:
// no top-level domain does, while every inet_aton form of an IPv4 address
// (decimal, octal, hex, shortened) does.
func looksNumeric(name string) bool {
	last := name[strings.LastIndexByte(name, '.')+1:]
	return last != "" && last[0] >= '0' && last[0] <= '9'
}
