package purge

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on a purge request. They bound the work one API call can ask of
// every node and the size of one bus event.
const (
	// MaxBodySize is the largest request body ParseRequest and the HTTP
	// API accept (1 MiB).
	MaxBodySize = 1 << 20
	// MaxItems is the largest number of URLs, prefixes, tags and hosts,
	// counted together, in one request.
	MaxItems = 10000
	// MaxItemLen is the longest URL, prefix, tag or host, in bytes.
	MaxItemLen = 8192
)

// Request is one purge: every object matching any of its selectors is
// removed (hard) or marked stale (Soft). Requests are idempotent: applying
// one twice has the effect of applying it once.
type Request struct {
	// URLs are absolute http(s) URLs; each removes every Vary variant of
	// that URL (GET and HEAD share a key).
	URLs []string `json:"urls,omitempty"`
	// Prefixes are absolute http(s) URLs; each matches every object of
	// that host whose path (and query) starts with the prefix's path.
	Prefixes []string `json:"prefixes,omitempty"`
	// Tags are surrogate keys (Surrogate-Key / Cache-Tag values).
	Tags []string `json:"tags,omitempty"`
	// Hosts are bare host names with an optional port; each matches every
	// object of that host.
	Hosts []string `json:"hosts,omitempty"`
	// All matches every object.
	All bool `json:"all,omitempty"`
	// Soft marks matching objects stale instead of deleting them, so they
	// are revalidated (and may still serve stale-while-revalidate /
	// stale-if-error, counting from the purge).
	Soft bool `json:"soft,omitempty"`
	// StandIn marks the Soft request a node applies in place of events it
	// missed or could not read: they may have been hard purges, so nothing
	// it marks may be served stale before it is revalidated. It never
	// travels on the bus.
	StandIn bool `json:"-"`
}

// selector is one item selector of a request: its kind (metric label),
// its JSON field and how many items it holds.
type selector struct {
	kind, field string
	n           int
}

func (r Request) selectors() []selector {
	return []selector{{"url", "urls", len(r.URLs)}, {"prefix", "prefixes", len(r.Prefixes)},
		{"tag", "tags", len(r.Tags)}, {"host", "hosts", len(r.Hosts)}}
}

// Kinds names the selector kinds r uses ("url", "prefix", "tag", "host",
// "all"), in that order; metrics are labelled with them.
func (r Request) Kinds() []string {
	var k []string
	for _, s := range r.selectors() {
		if s.n > 0 {
			k = append(k, s.kind)
		}
	}
	if r.All {
		k = append(k, "all")
	}
	return k
}

// selectorFields names the JSON fields of r's item selectors, as in "urls
// and tags".
func (r Request) selectorFields() string {
	var names []string
	for _, s := range r.selectors() {
		if s.n > 0 {
			names = append(names, s.field)
		}
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// ParseRequest decodes one JSON purge request strictly (unknown fields,
// trailing data and bodies over MaxBodySize are refused) and validates it.
// Errors wrap ErrTooLarge or ErrInvalid.
func ParseRequest(body io.Reader) (Request, error) {
	data, err := io.ReadAll(io.LimitReader(body, MaxBodySize+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return Request{}, fmt.Errorf("%w: over %d bytes", ErrTooLarge, MaxBodySize)
		}
		return Request{}, fmt.Errorf("reading purge request: %w", err)
	}
	if len(data) > MaxBodySize {
		return Request{}, fmt.Errorf("%w: over %d bytes", ErrTooLarge, MaxBodySize)
	}
	r, err := decodeRequest(data)
	if err != nil {
		return Request{}, err
	}
	if err := r.Validate(); err != nil {
		return Request{}, err
	}
	return r, nil
}

// Validate reports why r cannot be applied, wrapping ErrInvalid: it must
// select something; All stands alone (with other selectors the request
// contradicts itself: a client who meant a URL must not empty the cache);
// URLs and prefixes must be absolute http or https URLs
// with a host and no user info or fragment; hosts are bare host names with
// an optional port; tags are non-empty without white space or control
// characters; at most MaxItems items of at most MaxItemLen bytes.
func (r Request) Validate() error {
	n := len(r.URLs) + len(r.Prefixes) + len(r.Tags) + len(r.Hosts)
	if n == 0 && !r.All {
		return fmt.Errorf("%w: empty purge: give urls, prefixes, tags, hosts or all", ErrInvalid)
	}
	if r.All && n > 0 {
		with := r.selectorFields()
		return fmt.Errorf("%w: all (purge everything) cannot be combined with %s: send all alone, or drop all to purge only the %s given",
			ErrInvalid, with, with)
	}
	if n > MaxItems {
		return fmt.Errorf("%w: %d items, at most %d per request", ErrInvalid, n, MaxItems)
	}
	for _, f := range []struct {
		field string
		items []string
		check func(string) error
	}{
		{"urls", r.URLs, checkURL},
		{"prefixes", r.Prefixes, checkURL},
		{"tags", r.Tags, checkTag},
		{"hosts", r.Hosts, checkHost},
	} {
		for i, s := range f.items {
			if len(s) > MaxItemLen {
				return fmt.Errorf("%w: %s[%d]: longer than %d bytes", ErrInvalid, f.field, i, MaxItemLen)
			}
			if err := f.check(s); err != nil {
				return fmt.Errorf("%w: %s[%d] %q: %v", ErrInvalid, f.field, i, s, err)
			}
		}
	}
	return nil
}

// checkURL accepts absolute http and https URLs that name a host, so that a
// purge always says which site it is for.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("not an absolute http or https URL")
	}
	if u.Opaque != "" || u.Host == "" {
		return errors.New("no host")
	}
	if u.User != nil {
		return errors.New("user info is not allowed")
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return errors.New("fragment is not allowed")
	}
	return checkHost(u.Host)
}

// checkHost accepts a host name, IPv4 address or bracketed IPv6 address,
// with an optional port.
func checkHost(s string) error {
	host := s
	if strings.HasPrefix(s, "[") || strings.Count(s, ":") == 1 {
		h, port, err := net.SplitHostPort(s)
		if err != nil && strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
			h, port, err = s[1:len(s)-1], "", nil
		}
		if err != nil {
			return errors.New("bad host:port")
		}
		if port != "" {
			if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
				return errors.New("bad port")
			}
		}
		if strings.HasPrefix(s, "[") {
			if _, err := netip.ParseAddr(h); err != nil || !strings.Contains(h, ":") {
				return errors.New("bad IPv6 address")
			}
			return nil
		}
		host = h
	}
	if host == "" {
		return errors.New("empty host")
	}
	for _, c := range host {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return fmt.Errorf("bad character %q in host", c)
		}
	}
	return nil
}

// checkTag accepts any non-empty string without white space or control
// characters: Surrogate-Key separates tags with spaces, so a tag never
// holds one.
func checkTag(s string) error {
	if s == "" {
		return errors.New("empty tag")
	}
	if !utf8.ValidString(s) {
		return errors.New("not UTF-8")
	}
	for _, c := range s {
		if unicode.IsSpace(c) || unicode.IsControl(c) {
			return fmt.Errorf("bad character %q in tag", c)
		}
	}
	return nil
}
