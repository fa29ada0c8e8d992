package policy

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"edged/internal/ascii"
)

// ErrBadTarget is wrapped by every error ParseTarget returns: the request
// target cannot be turned into a cache key (the edge answers 400).
var ErrBadTarget = errors.New("policy: bad request target")

// Target is a normalized request target. The cache key is Key(); the edge
// forwards exactly RequestURI() upstream, so the key and the forwarded URL
// never differ.
type Target struct {
	Scheme   string // lower-case
	Host     string // lower-case, no trailing dot, no default port
	Path     string // escaped and normalized (RFC 3986 §6.2.2), starts with "/"
	RawQuery string // as sent, percent-encoding case normalized; no "?"
}

// Key returns "scheme://host/path?query" (no "?" when RawQuery is empty).
// Keys of one site share the prefix "scheme://host/", so a prefix purge is a
// key-range scan.
func (t Target) Key() string {
	var b strings.Builder
	b.Grow(t.keyLen())
	b.WriteString(t.Scheme)
	b.WriteString("://")
	b.WriteString(t.Host)
	b.WriteString(t.Path)
	if t.RawQuery != "" {
		b.WriteByte('?')
		b.WriteString(t.RawQuery)
	}
	return b.String()
}

// AppendKey appends Key() to b: a caller with a buffer of its own builds
// the key of every request without allocating one.
func (t Target) AppendKey(b []byte) []byte {
	b = slices.Grow(b, t.keyLen())
	b = append(b, t.Scheme...)
	b = append(b, "://"...)
	b = append(b, t.Host...)
	b = append(b, t.Path...)
	if t.RawQuery != "" {
		b = append(b, '?')
		b = append(b, t.RawQuery...)
	}
	return b
}

func (t Target) keyLen() int {
	n := len(t.Scheme) + 3 + len(t.Host) + len(t.Path)
	if t.RawQuery != "" {
		n += 1 + len(t.RawQuery)
	}
	return n
}

// RequestURI returns "/path?query", the origin-form to send upstream.
func (t Target) RequestURI() string {
	if t.RawQuery == "" {
		return t.Path
	}
	return t.Path + "?" + t.RawQuery
}

// ParseTarget normalizes a request target. host is r.Host and wins over an
// absolute-form u.Host; u is r.URL. See the package's Target type for the
// normal form (RFC 3986 §6.2.2 syntax-based normalization, §5.2.4 dot
// segments). Every error wraps ErrBadTarget.
func ParseTarget(scheme, host string, u *url.URL) (Target, error) {
	return parseTarget(scheme, host, u, false)
}

// ParseUnroutedTarget is ParseTarget for a request no route or access
// rule reads the path of (a forward proxy's, or a cache's with no sites):
// a percent-encoded control character stays in the path, encoded, as data
// ("%0A" in an S3 key), rather than being refused. ParseTarget refuses it
// because origins read such a path as another (see normalizePath), which
// matters only where the path chooses a route or is judged by a rule;
// keyed and sent on by its spelling, it reaches the origin as the client
// wrote it, and no other URL's key.
func ParseUnroutedTarget(scheme, host string, u *url.URL) (Target, error) {
	return parseTarget(scheme, host, u, true)
}

// parseTarget is ParseTarget; controls keeps percent-encoded control
// characters in the path (ParseUnroutedTarget).
func parseTarget(scheme, host string, u *url.URL, controls bool) (Target, error) {
	var t Target
	if u == nil {
		return t, fmt.Errorf("%w: no URL", ErrBadTarget)
	}
	var err error
	if t.Scheme, err = normalizeScheme(scheme); err != nil {
		return t, err
	}
	if t.Host, err = normalizeHost(t.Scheme, host); err != nil {
		return t, err
	}
	if u.Opaque != "" {
		return t, fmt.Errorf("%w: opaque target %q", ErrBadTarget, u.Opaque)
	}
	if u.User != nil {
		// RFC 9110 §4.2.4: userinfo in an http(s) URI is an error, likely
		// there to hide the authority ("http://bank@evil/"); it is never
		// part of the key or sent on.
		return t, fmt.Errorf("%w: userinfo in the target", ErrBadTarget)
	}
	if t.Path, err = normalizePath(u.EscapedPath(), controls); err != nil {
		return t, err
	}
	if t.RawQuery, err = normalizeQuery(u.RawQuery); err != nil {
		return t, err
	}
	return t, nil
}

// normalizeScheme checks scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
// (RFC 3986 §3.1) and lower-cases it (§6.2.2.1).
func normalizeScheme(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("%w: empty scheme", ErrBadTarget)
	}
	for i := 0; i < len(s); i++ {
		c := ascii.Lower(s[i])
		if !('a' <= c && c <= 'z') && (i == 0 || !('0' <= c && c <= '9') && c != '+' && c != '-' && c != '.') {
			return "", fmt.Errorf("%w: invalid scheme %q", ErrBadTarget, s)
		}
	}
	return ascii.ToLower(s), nil
}

// normalizeHost validates host [ ":" port ] (RFC 3986 §3.2.2, §3.2.3) and
// returns it lower-cased (§6.2.2.1), without a trailing dot, with the port
// in plain decimal and without the scheme's default port (§6.2.3).
func normalizeHost(scheme, hostport string) (string, error) {
	host, port := hostport, ""
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return "", fmt.Errorf("%w: unterminated IP literal in host %q", ErrBadTarget, hostport)
		}
		host, port = hostport[:end+1], hostport[end+1:]
		if !validIPv6(host[1:end]) {
			return "", fmt.Errorf("%w: invalid IP literal %q", ErrBadTarget, host)
		}
		if port != "" && port[0] != ':' {
			return "", fmt.Errorf("%w: junk after IP literal in host %q", ErrBadTarget, hostport)
		}
	} else if i := strings.IndexByte(hostport, ':'); i >= 0 {
		host, port = hostport[:i], hostport[i:]
	}
	if !strings.HasPrefix(host, "[") {
		if strings.IndexByte(host, '%') >= 0 {
			var err error
			if host, err = decodeHost(host); err != nil {
				return "", fmt.Errorf("%w: host %q: %w", ErrBadTarget, hostport, err)
			}
		}
		host = strings.TrimRight(host, ".") // "example.com." names the same host (and ".." must not leave ".")
		if err := validRegName(host); err != nil {
			return "", fmt.Errorf("%w: host %q: %w", ErrBadTarget, hostport, err)
		}
	}
	host = ascii.ToLower(host)
	if port == "" || port == ":" { // an empty port is the default (§6.2.3)
		return host, nil
	}
	n, err := strconv.ParseUint(port[1:], 10, 32)
	if err != nil || n > 65535 || port[1] == '+' {
		return "", fmt.Errorf("%w: invalid port in host %q", ErrBadTarget, hostport)
	}
	if (scheme == "http" && n == 80) || (scheme == "https" && n == 443) {
		return host, nil
	}
	if port[1] == '0' { // "080" is port 80 spelt differently
		return host + ":" + strconv.FormatUint(n, 10), nil
	}
	return host + port, nil
}

// decodeHost decodes the percent-encoded unreserved characters of a
// reg-name (RFC 3986 §6.2.2.2: "%73ite.example" is "site.example") and
// refuses any other escape: no DNS name holds one. Kept encoded, such a
// host was routed to another site than its decoded name (a wildcard
// "*.example" rather than "site.example", past the exact site's rules).
func decodeHost(s string) (string, error) {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return "", errors.New("invalid percent-encoding")
		}
		v := unhex(s[i+1])<<4 | unhex(s[i+2])
		if !isUnreserved(v) {
			return "", fmt.Errorf("percent-encoded %q is no part of a host name", s[i:i+3])
		}
		b.WriteByte(v)
		i += 2
	}
	return b.String(), nil
}

// validRegName checks reg-name = *( unreserved / pct-encoded / sub-delims ),
// non-empty (an IPv4 address is a reg-name too).
func validRegName(s string) error {
	if s == "" {
		return errors.New("empty host")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isUnreserved(c), isSubDelim(c):
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return errors.New("invalid percent-encoding")
			}
			i += 2
		default:
			return fmt.Errorf("invalid character %q", c)
		}
	}
	return nil
}

// validIPv6 checks the inside of an IP-literal: hex digits, colons and dots
// (an embedded IPv4), with at least two colons. IPvFuture and zone IDs are
// refused: no origin needs them and they complicate keys.
func validIPv6(s string) bool {
	colons := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ':':
			colons++
		case isHex(c), c == '.':
		default:
			return false
		}
	}
	return colons >= 2 && colons <= 7 && len(s) <= 45
}

// normalizePath refuses a path that hides a dot segment (hiddenDotSegment)
// or holds a control character (raw or percent-encoded), percent-encodes
// what must be, upper-cases percent-encoding hex (RFC 3986 §6.2.2.1), decodes percent-encoded unreserved characters
// (§6.2.2.2) and removes dot segments (§6.2.2.3, §5.2.4). "%2F" stays
// encoded: it is data, not a separator. With controls, an encoded control
// character is kept (encoded) rather than refused; a raw one never is.
func normalizePath(p string, controls bool) (string, error) {
	if p == "" {
		return "/", nil // RFC 9110 §4.2.3: an empty path is "/"
	}
	if p[0] != '/' {
		return "", fmt.Errorf("%w: path %q is not origin-form", ErrBadTarget, p)
	}
	if cleanPath(p) {
		if hiddenDotSegment(p) {
			return "", fmt.Errorf("%w: path %q hides a dot segment behind a parameter", ErrBadTarget, p)
		}
		return p, nil
	}
	var b strings.Builder
	b.Grow(len(p) + 8)
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '%':
			if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
				return "", fmt.Errorf("%w: invalid percent-encoding in path %q", ErrBadTarget, p)
			}
			v := unhex(p[i+1])<<4 | unhex(p[i+2])
			i += 2
			if (v < 0x20 || v == 0x7f) && !controls {
				// No resource is named with a control character, and
				// origins read one their own way: nginx refuses %00,
				// code in C (and PHP before 5.3.4) cuts a file name
				// there ("/admin%00"), Spring's trimTokens trims %09
				// and %0A from a segment ("/admin%09/x" is "/admin/x").
				// Routed and keyed by its spelling, such a path would
				// reach a route (and skip the access rules) of a path
				// it is not.
				return "", fmt.Errorf("%w: encoded control character in path %q", ErrBadTarget, p)
			}
			if isUnreserved(v) {
				b.WriteByte(v)
			} else {
				writePct(&b, v)
			}
		case c < 0x20 || c == 0x7f || c == ' ':
			return "", fmt.Errorf("%w: control character in path", ErrBadTarget)
		case isPchar(c) || c == '/':
			b.WriteByte(c)
		default:
			writePct(&b, c)
		}
	}
	out := b.String()
	if hasDotSegment(out) {
		out = removeDotSegments(out)
	}
	if hiddenDotSegment(out) {
		return "", fmt.Errorf("%w: path %q hides a dot segment behind an encoded separator or a parameter", ErrBadTarget, p)
	}
	return out, nil
}

// hiddenDotSegment reports whether p, already free of dot segments, would
// gain one in an origin that decodes %2F or %5C into a separator (many do,
// and Windows servers treat "\" as "/") or that drops ";params" from a
// segment (Tomcat, Jetty): "/static/..%2Fadmin", "/static/..;/admin". The
// cache would key and route such a path under /static/ while the origin
// serves /admin, so it is refused rather than guessed at: the key, the route
// and the origin's resolution could disagree (RFC 3986 §7.3 warns of
// encoded delimiters).
func hiddenDotSegment(p string) bool {
	if !strings.Contains(p, "%2F") && !strings.Contains(p, "%5C") && !strings.Contains(p, ";") {
		return false
	}
	for seg := range strings.FieldsFuncSeq(strings.NewReplacer("%2F", "/", "%5C", "/").Replace(p), func(r rune) bool { return r == '/' }) {
		seg, _, _ = strings.Cut(seg, ";")
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// cleanPath reports whether p is already in normal form.
func cleanPath(p string) bool {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '%' || (!isPchar(c) && c != '/') {
			return false
		}
	}
	return !hasDotSegment(p)
}

// hasDotSegment reports whether a "." or ".." segment is present.
func hasDotSegment(p string) bool {
	for i := 0; i < len(p); i++ {
		if p[i] != '/' || i+1 >= len(p) || p[i+1] != '.' {
			continue
		}
		j := i + 2
		if j < len(p) && p[j] == '.' {
			j++
		}
		if j == len(p) || p[j] == '/' {
			return true
		}
	}
	return false
}

// removeDotSegments is RFC 3986 §5.2.4 for an absolute path.
func removeDotSegments(in string) string {
	out := make([]string, 0, strings.Count(in, "/"))
	segs := strings.Split(in[1:], "/")
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case ".":
			if last {
				out = append(out, "")
			}
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	return "/" + strings.Join(out, "/")
}

// normalizeQuery keeps the query as sent but upper-cases percent-encoding
// hex (RFC 3986 §6.2.2.1) and percent-encodes bytes that may not appear raw.
func normalizeQuery(q string) (string, error) {
	clean := true
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c < 0x20 || c == 0x7f || c == ' ':
			return "", fmt.Errorf("%w: control character in query", ErrBadTarget)
		case c == '%':
			if i+2 >= len(q) || !isHex(q[i+1]) || !isHex(q[i+2]) {
				return "", fmt.Errorf("%w: invalid percent-encoding in query", ErrBadTarget)
			}
			if !isUpperHex(q[i+1]) || !isUpperHex(q[i+2]) {
				clean = false
			}
			i += 2
		case c >= 0x80 || c == '#':
			clean = false
		}
	}
	if clean {
		return q, nil
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '%':
			writePct(&b, unhex(q[i+1])<<4|unhex(q[i+2]))
			i += 2
		case c >= 0x80 || c == '#':
			writePct(&b, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

const hexDigits = "0123456789ABCDEF"

func writePct(b *strings.Builder, c byte) {
	b.WriteByte('%')
	b.WriteByte(hexDigits[c>>4])
	b.WriteByte(hexDigits[c&15])
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func isUpperHex(c byte) bool { return ('0' <= c && c <= '9') || ('A' <= c && c <= 'F') }

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// isUnreserved: ALPHA / DIGIT / "-" / "." / "_" / "~" (RFC 3986 §2.3).
func isUnreserved(c byte) bool {
	return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// isSubDelim: "!" / "$" / "&" / "'" / "(" / ")" / "*" / "+" / "," / ";" / "=" (RFC 3986 §2.2).
func isSubDelim(c byte) bool {
	switch c {
	case '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=':
		return true
	}
	return false
}

// isPchar: unreserved / sub-delims / ":" / "@" (pct-encoded handled apart).
func isPchar(c byte) bool { return isUnreserved(c) || isSubDelim(c) || c == ':' || c == '@' }
