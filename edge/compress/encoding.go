package compress

import "edged/internal/ascii"

// Encoding is a content coding (RFC 9110 §8.4.1) this edge can produce, as
// it appears in Content-Encoding.
type Encoding string

// The content codings this package negotiates and produces.
const (
	// Identity means no content coding (RFC 9110 §12.5.3); it is never sent
	// in Content-Encoding.
	Identity Encoding = "identity"
	// Gzip is the gzip coding (RFC 9110 §8.4.1.3).
	Gzip Encoding = "gzip"
	// Brotli is the br coding (RFC 7932, registered for HTTP).
	Brotli Encoding = "br"
)

// sameCoding reports whether the token name from a header denotes coding.
// Content codings are case-insensitive (RFC 9110 §8.4.1) and "x-gzip" is
// gzip (RFC 9110 §8.4.1.3: a recipient SHOULD consider them equivalent).
func sameCoding(name string, coding Encoding) bool {
	if ascii.EqualFold(name, string(coding)) {
		return true
	}
	return coding == Gzip && ascii.EqualFold(name, "x-gzip")
}
