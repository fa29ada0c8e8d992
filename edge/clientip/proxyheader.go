package clientip

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// The PROXY protocol is specified by HAProxy in "The PROXY protocol, versions
// 1 & 2" (doc/proxy-protocol.txt); section numbers below refer to it.

// ErrProxyHeader reports a malformed or missing PROXY protocol header.
var ErrProxyHeader = errors.New("clientip: bad PROXY protocol header")

var (
	// sigV1 starts a v1 header (§2.1).
	sigV1 = []byte("PROXY ")
	// sigV2 starts a v2 header (§2.2).
	sigV2 = []byte("\r\n\r\n\x00\r\nQUIT\n")
)

const (
	maxV1Len     = 107 // §2.1: the longest possible v1 line, CRLF included
	v2HeaderLen  = 16  // §2.2: signature, ver_cmd, fam, len
	v2AddrInet   = 12  // §2.2: 2×4 address bytes + 2×2 port bytes
	v2AddrInet6  = 36  // §2.2: 2×16 address bytes + 2×2 port bytes
	v2CmdLocal   = 0x0 // §2.2: health check from the proxy itself
	v2CmdProxy   = 0x1
	v2FamInet    = 0x1
	v2FamInet6   = 0x2
	v2TransSteam = 0x1 // §2.2: STREAM; DGRAM makes no sense on a TCP listener
)

// proxyHeader is what a PROXY header says. When local is true the header
// carries no usable client address and the socket peer stands (§2.1 UNKNOWN,
// §2.2 LOCAL and AF_UNSPEC/AF_UNIX).
type proxyHeader struct {
	version int
	local   bool
	src     netip.AddrPort
	dst     netip.AddrPort
}

// readProxyHeader consumes one PROXY header, v1 or v2, from br. Bytes after it
// stay in br for the application.
func readProxyHeader(br *bufio.Reader) (proxyHeader, error) {
	b, err := br.Peek(len(sigV1))
	if err != nil {
		return proxyHeader{}, fmt.Errorf("%w: %w", ErrProxyHeader, err)
	}
	if bytes.Equal(b, sigV1) {
		return readV1(br)
	}
	b, err = br.Peek(len(sigV2))
	if err != nil {
		return proxyHeader{}, fmt.Errorf("%w: %w", ErrProxyHeader, err)
	}
	if bytes.Equal(b, sigV2) {
		return readV2(br)
	}
	return proxyHeader{}, fmt.Errorf("%w: no signature", ErrProxyHeader)
}

// readV1 parses "PROXY TCP4 src dst sport dport\r\n" (§2.1).
func readV1(br *bufio.Reader) (proxyHeader, error) {
	line, err := peekLine(br)
	if err != nil {
		return proxyHeader{}, err
	}
	h, err := parseV1(line)
	if err != nil {
		return proxyHeader{}, err
	}
	_, _ = br.Discard(len(line))
	return h, nil
}

// peekLine returns the header line, CRLF included, without consuming it; the
// line must end within maxV1Len bytes (§2.1).
func peekLine(br *bufio.Reader) ([]byte, error) {
	for n := len(sigV1); n <= maxV1Len; n++ {
		b, err := br.Peek(n)
		if err != nil {
			return nil, fmt.Errorf("%w: v1: %w", ErrProxyHeader, err)
		}
		if b[n-1] == '\n' {
			return b, nil
		}
	}
	return nil, fmt.Errorf("%w: v1: line longer than %d bytes", ErrProxyHeader, maxV1Len)
}

func parseV1(line []byte) (proxyHeader, error) {
	s, ok := strings.CutSuffix(string(line), "\r\n") // §2.1: CRLF terminated
	if !ok {
		return proxyHeader{}, fmt.Errorf("%w: v1: missing CRLF", ErrProxyHeader)
	}
	f := strings.Split(s, " ") // §2.1: exactly one space between fields
	if len(f) >= 2 && f[1] == "UNKNOWN" {
		// §2.1: the receiver must ignore anything after UNKNOWN and use the
		// real connection endpoints.
		return proxyHeader{version: 1, local: true}, nil
	}
	if len(f) != 6 {
		return proxyHeader{}, fmt.Errorf("%w: v1: want 6 fields, got %d", ErrProxyHeader, len(f))
	}
	var want6 bool
	switch f[1] {
	case "TCP4":
	case "TCP6":
		want6 = true
	default:
		return proxyHeader{}, fmt.Errorf("%w: v1: unknown protocol %q", ErrProxyHeader, f[1])
	}
	src, err1 := parseV1Addr(f[2], f[4], want6)
	dst, err2 := parseV1Addr(f[3], f[5], want6)
	if err := errors.Join(err1, err2); err != nil {
		return proxyHeader{}, fmt.Errorf("%w: v1: %w", ErrProxyHeader, err)
	}
	return proxyHeader{version: 1, src: src, dst: dst}, nil
}

// parseV1Addr parses one address and port; TCP4 needs an IPv4 address and
// TCP6 an IPv6 one (§2.1).
func parseV1Addr(addr, port string, want6 bool) (netip.AddrPort, error) {
	a, err := netip.ParseAddr(addr)
	if err != nil || a.Zone() != "" || a.Is6() != want6 {
		return netip.AddrPort{}, fmt.Errorf("address %q", addr)
	}
	// §2.1: ports are decimal 0..65535; no sign, no leading zeros.
	if port == "" || (len(port) > 1 && port[0] == '0') || strings.IndexFunc(port, notDigit) >= 0 {
		return netip.AddrPort{}, fmt.Errorf("port %q", port)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("port %q", port)
	}
	return netip.AddrPortFrom(a, uint16(p)), nil
}

func notDigit(r rune) bool { return r < '0' || r > '9' }

// readV2 parses the binary header (§2.2).
func readV2(br *bufio.Reader) (proxyHeader, error) {
	hdr := make([]byte, v2HeaderLen)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return proxyHeader{}, fmt.Errorf("%w: v2: %w", ErrProxyHeader, err)
	}
	verCmd, fam := hdr[12], hdr[13]
	n := int(binary.BigEndian.Uint16(hdr[14:16]))
	if verCmd>>4 != 2 { // §2.2: the version nibble must be 0x2
		return proxyHeader{}, fmt.Errorf("%w: v2: version %#x", ErrProxyHeader, verCmd>>4)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		return proxyHeader{}, fmt.Errorf("%w: v2: body: %w", ErrProxyHeader, err)
	}
	return parseV2(verCmd&0xf, fam, body)
}

func parseV2(cmd, fam byte, body []byte) (proxyHeader, error) {
	switch cmd {
	case v2CmdLocal:
		// §2.2: LOCAL: the proxy speaks for itself; keep the real endpoints
		// and skip the address block.
		return proxyHeader{version: 2, local: true}, nil
	case v2CmdProxy:
	default:
		return proxyHeader{}, fmt.Errorf("%w: v2: command %#x", ErrProxyHeader, cmd)
	}
	family, transport := fam>>4, fam&0xf
	if family != v2FamInet && family != v2FamInet6 {
		// §2.2: AF_UNSPEC and AF_UNIX carry no IP client; receivers use the
		// real endpoints.
		if family > 0x3 || transport > 0x2 {
			return proxyHeader{}, fmt.Errorf("%w: v2: family %#x", ErrProxyHeader, fam)
		}
		return proxyHeader{version: 2, local: true}, nil
	}
	if transport != v2TransSteam {
		return proxyHeader{}, fmt.Errorf("%w: v2: transport %#x is not STREAM", ErrProxyHeader, transport)
	}
	return parseV2Addrs(family, body)
}

// parseV2Addrs reads the address block; anything after it is TLVs (§2.2.7),
// which we skip.
func parseV2Addrs(family byte, body []byte) (proxyHeader, error) {
	size, alen := v2AddrInet, 4
	if family == v2FamInet6 {
		size, alen = v2AddrInet6, 16
	}
	if len(body) < size {
		return proxyHeader{}, fmt.Errorf("%w: v2: address block of %d bytes, want %d", ErrProxyHeader, len(body), size)
	}
	src, _ := netip.AddrFromSlice(body[:alen])
	dst, _ := netip.AddrFromSlice(body[alen : 2*alen])
	sp := binary.BigEndian.Uint16(body[2*alen:])
	dp := binary.BigEndian.Uint16(body[2*alen+2:])
	return proxyHeader{
		version: 2,
		src:     netip.AddrPortFrom(src, sp),
		dst:     netip.AddrPortFrom(dst, dp),
	}, nil
}

// startsLikeProxyHeader reports whether b could be the beginning of a PROXY
// header (of either version), and whether it is a complete signature.
func startsLikeProxyHeader(b []byte) (maybe, complete bool) {
	for _, sig := range [][]byte{sigV1, sigV2} {
		n := min(len(b), len(sig))
		if bytes.Equal(b[:n], sig[:n]) {
			maybe = true
			complete = complete || n == len(sig)
		}
	}
	return maybe, complete
}
