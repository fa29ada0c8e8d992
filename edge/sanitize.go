package edge

import (
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/http/httpguts"

	"edged/edge/compress"
	"edged/internal/httpsyntax"
)

// refuseHostile checks a request for shapes that attack a shared cache
// (smuggling, cache poisoning through unkeyed inputs), removes the request
// fields no client may set for the upstream and normalizes Accept-Encoding
// (normalizeAcceptEncoding). It returns a status and reason when the
// request must be refused.
//
// It runs before anything reads r, so that the cache key, the Vary
// selection, the access rules and the request sent upstream all see the same
// header: whatever the origin may act on is either keyed or removed here.
// Framing attacks that net/http hides from a handler (Content-Length beside
// Transfer-Encoding) are caught by strictconn.WrapListener on the connection.
func (h *Handler) refuseHostile(r *http.Request) (int, string) {
	if n := httpsyntax.FieldLines(r.Header); n > httpsyntax.MaxRequestFieldLines {
		// What a head costs parsed and copied grows with its fields, not
		// only its bytes (httpsyntax.MaxRequestFieldLines).
		return http.StatusRequestHeaderFieldsTooLarge, fmt.Sprintf("%d header field lines, more than %d", n, httpsyntax.MaxRequestFieldLines)
	}
	if status, reason := refuseUpgrade(r.Header); status != 0 {
		return status, reason
	}
	if n := len(r.Header["Authorization"]); n > 1 {
		// RFC 9110 §11.6.2: Authorization holds one credential, not a list,
		// and §5.3 forbids sending it twice. Which line counts is anyone's
		// guess (an origin may read the last, the fetch partition and a
		// route's verifier read the first), so none does: refused, as a
		// route with authentication and the forward proxy's
		// Proxy-Authorization refuse theirs.
		return http.StatusBadRequest, fmt.Sprintf("%d Authorization fields: send one", n)
	}
	dropConnectionNamed(r.Header)
	h.dropUnkeyed(r.Header)
	normalizeAcceptEncoding(r.Header)
	return 0, ""
}

// normalizeAcceptEncoding replaces a request's Accept-Encoding with its
// normal form (compress.NormalizeAccept: the acceptable codings among br,
// gzip and zstd, or "identity"), as Fastly and Varnish normalize it, before
// the field is keyed or forwarded. Matched as sent, every spelling was a
// Vary variant of its own: 64 made-up values ("junk1" ...) filled a URL's
// variant cap (variants.go, which then refused new variants for the rest
// of a 10-minute window and now replaces the least used one), and every
// browser's new variant passed to the origin. An absent field stays absent.
func normalizeAcceptEncoding(h http.Header) {
	lines, ok := h["Accept-Encoding"] // a canonical name: Values would canonicalize it again
	if !ok || len(lines) == 0 {
		return // no field (Negotiate treats an empty list alike)
	}
	norm := compress.NormalizeAccept(lines)
	if len(lines) == 1 && lines[0] == norm {
		return
	}
	lines[0] = norm // the request's own slice: no allocation on the hit path
	h["Accept-Encoding"] = lines[:1]
}

// refuseUpgrade refuses a cleartext HTTP/2 upgrade. edged speaks HTTP/2 only
// over TLS, negotiated with ALPN (RFC 9113 §3.2 removed h2c upgrade); an h2c
// request passed on would let a client open an HTTP/2 connection behind the
// cache's back if some hop honoured it. Other Upgrade fields are ignored, as
// RFC 9110 §7.8 allows: they are hop-by-hop and never forwarded.
func refuseUpgrade(h http.Header) (int, string) {
	// RFC 9110 §7.8: Upgrade = #protocol, protocol-name ["/" protocol-version].
	for elem := range httpsyntax.TokenElems(h["Upgrade"]) { // a canonical name: Values would canonicalize it again
		if proto, _, _ := strings.Cut(elem, "/"); strings.EqualFold(proto, "h2c") {
			return http.StatusBadRequest, "h2c upgrade refused: HTTP/2 is served over TLS only"
		}
	}
	if _, ok := h["Http2-Settings"]; ok {
		// RFC 7540 §3.2.1: only meaningful with an h2c upgrade.
		return http.StatusBadRequest, "HTTP2-Settings without TLS refused"
	}
	return 0, ""
}

// dropConnectionNamed removes the fields the client named in Connection
// (RFC 9110 §7.6.1: they are for the immediate recipient only and are not
// forwarded). The upstream client removes them too, but only when sending:
// removing them here first means a field that never reaches the origin
// cannot select a Vary variant or pass an access rule either, so a client
// cannot store the origin's answer to one request under the key of another
// (e.g. "Accept-Language: fr" named in Connection).
// TE and the framing fields stay: the upstream client handles those.
// The list is read by the upstream client's own parser
// (httpsyntax.TokenElems: parameters cut off, only SP and HTAB trimmed),
// so that no spelling names a field here that it does not name there, or
// the other way round.
func dropConnectionNamed(h http.Header) {
	for name := range httpsyntax.TokenElems(h["Connection"]) { // a canonical name: Values would canonicalize it again
		if !connectionOption(name) {
			h.Del(name)
		}
	}
}

// connectionOption reports whether a Connection list element is one that
// names no field to remove (compared as strings.ToLower would, without
// copying the common "Keep-Alive").
func connectionOption(name string) bool {
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			name = strings.ToLower(name) // Unicode can lower-case into ASCII
			break
		}
	}
	for _, o := range [...]string{"", "close", "keep-alive", "te", "connection"} {
		if len(o) == len(name) && strings.EqualFold(o, name) {
			return true
		}
	}
	return false
}

// DefaultStripRequestHeaders returns the request fields removed by default
// (Options.StripRequestHeaders): the ones that tell an origin which URL,
// host, scheme, port, method or client address to act on. They are not
// part of the cache key, so a client that set them could have the origin
// answer one thing and the cache store it under another URL for everyone
// (unkeyed-input cache poisoning), or reflect a value into a page the
// cache then serves to all. A name ending in "*" stands for every field
// that begins with the rest.
func DefaultStripRequestHeaders() []string {
	return []string{
		"Forwarded", // RFC 7239: host=, proto= and for= the origin may trust
		"X-Forwarded",
		"X-Forwarded-*", // Host, Proto, Protocol, Scheme, Port, Server, Prefix, Path, Ssl, Uri...
		"X-Real-IP",
		"True-Client-IP",
		"X-Client-IP",
		"X-Cluster-Client-IP",
		"X-Url-Scheme",
		"X-Host",
		"X-HTTP-Host-Override",
		"X-Original-Host",
		"X-Original-URI",
		"X-Original-URL",
		"X-Rewrite-URL",
		"Base-Url",
		"X-HTTP-Method-Override",
		"X-HTTP-Method",
		"X-Method-Override",
		"Front-End-Https",
		// Other proxies' and CDNs' client-address claims an origin may
		// trust for access or rate limits.
		"Client-IP",
		"CF-Connecting-IP",
		"Fastly-Client-IP",
		"X-Azure-ClientIP",
		"X-Remote-IP",
		"X-Remote-Addr",
		"X-Originating-IP",
		"X-ProxyUser-Ip",
		"X-Original-Forwarded-For",
		"Forwarded-For", // HTTP_FORWARDED_FOR: read by the widely copied PHP "real IP" snippet
		"X-Custom-IP-Authorization",
		// Fields that frameworks and gateways behind a CDN act on:
		// Next.js middleware bypass (CVE-2025-29927) and route override
		// (CVE-2024-46982), Envoy's and others' path and backend overrides,
		// S3 website redirects, and a profile URL some servers fetch.
		"X-Middleware-Subrequest",
		"X-Now-Route-Matches",
		"X-Invoke-Path",
		"X-Invoke-Query",
		"X-Envoy-Original-Path",
		"X-Override-URL",
		"X-Backend-Host",
		"X-Amz-Website-Redirect-Location",
		"X-Wap-Profile",
	}
}

// forwardedFor is never matched by a pattern: the upstream client appends
// the client's address to it (the de-facto chain an origin reads right to
// left), so "X-Forwarded-*" leaves it. Listing it by name drops a client's
// own chain.
const forwardedFor = "X-Forwarded-For"

// fieldSet is a compiled Options.StripRequestHeaders.
type fieldSet struct {
	names    map[string]bool // canonical names
	prefixes []string        // the patterns' text before "*"
}

// newFieldSet compiles names and patterns ("X-Forwarded-*"). The error
// names the offending entry.
func newFieldSet(patterns []string) (fieldSet, error) {
	s := fieldSet{names: make(map[string]bool, len(patterns))}
	for i, p := range patterns {
		prefix, wild := strings.CutSuffix(p, "*")
		if !httpguts.ValidHeaderFieldName(prefix) {
			return fieldSet{}, fmt.Errorf("StripRequestHeaders[%d] %q: want a field name, optionally ending in *", i, p)
		}
		if wild {
			s.prefixes = append(s.prefixes, prefix)
		} else {
			s.names[http.CanonicalHeaderKey(p)] = true
		}
	}
	return s, nil
}

// has reports whether the set holds name, a canonical field name (as
// net/http stores request fields).
func (s *fieldSet) has(name string) bool {
	if s.names[name] {
		return true
	}
	for _, p := range s.prefixes {
		if len(name) > len(p) && strings.EqualFold(name[:len(p)], p) && name != forwardedFor {
			return true
		}
	}
	return false
}

// dropUnkeyed removes the fields of h.strip and every field whose name
// holds "_": CGI-style origins (PHP, WSGI, Rails through Rack) map both
// "X-Forwarded-Host" and "X_Forwarded_Host" to HTTP_X_FORWARDED_HOST, so an
// underscore spelling would slip past the list. nginx drops them by default
// for the same reason (underscores_in_headers off). The edge sets its own
// X-Forwarded-Host and X-Forwarded-Proto afterwards and appends to
// X-Forwarded-For; a route's request_headers may still set any of these,
// since they are applied after this. One pass over the request's fields
// costs less than deleting every listed name.
func (h *Handler) dropUnkeyed(hdr http.Header) {
	for name := range hdr {
		if h.strip.has(name) || strings.IndexByte(name, '_') >= 0 {
			delete(hdr, name)
		}
	}
}
