package origin

import (
	"fmt"
	"net/url"
	"strings"
)

// upstream is one server requests can be sent to: the origin or a shield.
// Pools of origin servers will add per-server state (weight, health) here.
type upstream struct {
	base   string // the configured URL, for logs and errors
	scheme string // "http" or "https"
	host   string // host[:port], the dial address and the default Host
	prefix string // escaped path prefix without trailing slash, "" for none
	hash   uint64 // hash of base, the server's identity in rendezvous hashing
}

// parseUpstream validates a base URL given in the named option.
func parseUpstream(option, raw string) (*upstream, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("origin: option %s: invalid URL %q: %w", option, raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("origin: option %s: invalid URL %q: unsupported scheme %q (want http or https)", option, raw, u.Scheme)
	}
	switch {
	case u.Host == "":
		return nil, fmt.Errorf("origin: option %s: invalid URL %q: no host", option, raw)
	case u.User != nil:
		return nil, fmt.Errorf("origin: option %s: invalid URL %q: user info is not supported", option, raw)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("origin: option %s: invalid URL %q: query and fragment are not allowed", option, raw)
	}
	return &upstream{
		base:   raw,
		scheme: u.Scheme,
		host:   u.Host,
		prefix: strings.TrimSuffix(u.EscapedPath(), "/"),
		hash:   hashString(raw),
	}, nil
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
