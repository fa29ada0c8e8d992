package policy

import (
	"net/http"
	"net/url"
)

// IsUnsafe reports whether a method is unsafe (RFC 9110 §9.2.1): anything but
// GET, HEAD, OPTIONS and TRACE. Unknown methods are unsafe.
func IsUnsafe(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}

// Invalidates returns the targets a response to an unsafe request for t
// invalidates (RFC 9111 §4.4): none unless the status is 2xx or 3xx;
// otherwise t, plus the targets of Location and Content-Location resolved
// against t when they have t's scheme and host (§4.4: a cache must not
// invalidate other origins, which would let one site purge another).
func Invalidates(t Target, status int, h http.Header) []Target {
	if status < 200 || status > 399 {
		return nil
	}
	out := []Target{t}
	base := &url.URL{Scheme: t.Scheme, Host: t.Host, Path: t.Path, RawQuery: t.RawQuery}
	if p, err := url.PathUnescape(t.Path); err == nil {
		base.Path, base.RawPath = p, t.Path
	}
	for _, field := range [...]string{"Location", "Content-Location"} {
		v := h.Get(field)
		if v == "" {
			continue
		}
		ref, err := url.Parse(v)
		if err != nil {
			continue
		}
		abs := base.ResolveReference(ref)
		abs.Fragment, abs.RawFragment = "", ""
		// Unrouted: where routes refuse a path with an encoded control
		// character nothing is stored under it, and where none do
		// (ParseUnroutedTarget) what is must be reached.
		got, err := ParseUnroutedTarget(abs.Scheme, abs.Host, abs)
		if err != nil || got.Scheme != t.Scheme || got.Host != t.Host {
			continue
		}
		dup := false
		for _, o := range out {
			dup = dup || o == got
		}
		if !dup {
			out = append(out, got)
		}
	}
	return out
}
