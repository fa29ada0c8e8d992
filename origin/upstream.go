package origin

import (
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// upstream is one server requests can be sent to: an origin server of a
// pool or a shield. It carries the server's shared state: health, passive
// ejection and in-flight count.
type upstream struct {
	base   string // the configured URL, for logs and errors
	scheme string // "http" or "https"
	host   string // host[:port], the default Host
	addr   string // host:port, the address dialled
	prefix string // escaped path prefix without trailing slash, "" for none
	hash   uint64 // hash of base, the server's identity in rendezvous hashing

	index  int // position in its pool (or shield list)
	weight int // relative share for weighted algorithms, >= 1

	tr *transports // the connection pools this server is reached through

	bodyIdle time.Duration // bound on each wait for response body bytes

	inFlight atomic.Int64 // exchanges started and not finished (body closed)
	up       atomic.Bool  // the active health checks' verdict; true without them
	eject    ejector      // passive health (outlier detection)
	check    checkCounts  // owned by the server's health-check goroutine

	metrics *serverMetrics // set once before use; nil records nothing
}

// CheckURL reports what makes raw unfit as the base URL of an origin
// server or a shield, or nil: it must be absolute, http or https, with a
// host and an optional path prefix, and no user info, query or fragment.
func CheckURL(raw string) error {
	if !strings.Contains(raw, "://") {
		// The usual slip is host:port without a scheme, which url.Parse
		// reads as a path ("first path segment in URL cannot contain
		// colon") or as the scheme "localhost": say what is missing.
		return fmt.Errorf("invalid URL %q: no scheme: want http://%s or https://%s", raw, raw, raw)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("invalid URL %q: %w", raw, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("invalid URL %q: scheme must be http or https, got %q", raw, u.Scheme)
	case u.Host == "":
		return fmt.Errorf("invalid URL %q: no host", raw)
	case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return fmt.Errorf("invalid URL %q: no query, fragment or user info allowed", raw)
	}
	return nil
}

// serverIdentity is what makes two server URLs the same server: scheme,
// host (case-insensitive, RFC 3986 §6.2.2.1) and path prefix (a trailing
// slash does not count). raw passed CheckURL.
func serverIdentity(raw string) string {
	up, err := parseUpstream(raw)
	if err != nil {
		return raw
	}
	return up.identity()
}

// parseUpstream parses a base URL that CheckURL accepts.
func parseUpstream(raw string) (*upstream, error) {
	if err := CheckURL(raw); err != nil {
		return nil, err
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	up := &upstream{
		base:   raw,
		scheme: u.Scheme,
		host:   u.Host,
		addr:   dialAddr(u.Scheme, u.Host),
		prefix: strings.TrimSuffix(u.EscapedPath(), "/"),
		hash:   hashString(raw),
		weight: 1,
	}
	up.up.Store(true)
	return up, nil
}

// identity is what makes two upstreams the same server: scheme, host
// (case-insensitive, RFC 3986 §6.2.2.1) and path prefix.
func (u *upstream) identity() string {
	return u.scheme + "://" + strings.ToLower(u.host) + u.prefix
}

// available reports whether u may be picked at now (unix nanoseconds): the
// active checks say up and it is not ejected.
func (u *upstream) available(now int64) bool {
	return u.up.Load() && !u.eject.ejected(now)
}

// targetURL returns the URL for requestURI ("/path?query") on this upstream,
// built so the request line carries prefix+requestURI byte for byte: Go would
// re-encode a parsed path, so the path goes into Opaque (or RawPath) as is.
func (u *upstream) targetURL(requestURI string) (*url.URL, error) {
	if !strings.HasPrefix(requestURI, "/") {
		return nil, fmt.Errorf("origin: request URI %q does not start with /", requestURI)
	}
	path, query, hasQuery := strings.Cut(requestURI, "?")
	path = u.prefix + path
	target := &url.URL{
		Scheme:     u.scheme,
		Host:       u.host,
		RawQuery:   query,
		ForceQuery: hasQuery && query == "",
	}
	if !strings.HasPrefix(path, "//") {
		target.Opaque = path
		return target, nil
	}
	// An Opaque starting with "//" would be sent in absolute form, so a path
	// like "//a" goes through Path/RawPath, which keeps valid escapes as is.
	unescaped, err := url.PathUnescape(path)
	if err != nil {
		return nil, fmt.Errorf("origin: request URI %q: %w", requestURI, err)
	}
	target.Path, target.RawPath = unescaped, path
	if target.EscapedPath() != path {
		return nil, fmt.Errorf("origin: request URI %q cannot be sent unchanged", requestURI)
	}
	return target, nil
}
