package httpsyntax

import "net/http"

// FieldLines is the number of field lines of h, each value counted (a
// field sent on three lines counts three). What a parsed header costs in
// memory grows with it, beyond its bytes: the limits on the field lines
// of requests and upstream responses count with it.
func FieldLines(h http.Header) int {
	n := 0
	for _, vs := range h {
		n += len(vs)
	}
	return n
}

// MaxRequestFieldLines bounds the field lines of a request a node serves
// (Host aside, which net/http takes out of the header); more is answered
// 431 (RFC 6585 §5: too large collectively), as Apache's
// LimitRequestFields (100) and Varnish's http_max_hdr (64) bound them.
// server.max_header_bytes bounds a head's bytes, not what they cost
// parsed and copied: a 56 KiB head of 6,500 one-letter fields held some
// 0.6 MiB while its miss waited. Browsers send about twenty.
const MaxRequestFieldLines = 256
