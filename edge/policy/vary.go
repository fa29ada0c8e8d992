package policy

import (
	"net/http"
	"net/textproto"
	"slices"
	"strings"

	"edged/internal/httpsyntax"
)

// ParseVary returns the request field names a response varies on (RFC 9111
// §4.1), canonicalized (textproto.CanonicalMIMEHeaderKey), deduplicated and
// sorted, so that "Vary: A, B" and "Vary: b" + "Vary: a" give the same list.
// star is true when "*" appears anywhere: such a response never matches a
// later request (§4.1) and is not stored. An element that is not a field
// name (`"Cookie"`, `Cookie;`) counts as "*": the response varies on
// something the cache cannot tell, and stored without it one user's page
// would be served to every other. So does a field the node itself writes
// per client or per request before the origin reads it (perClientFields):
// the origin varied on a value no client sent.
func ParseVary(h http.Header) (names []string, star bool) {
	for _, line := range h["Vary"] {
		for _, f := range strings.Split(line, ",") {
			f = strings.Trim(f, " \t")
			switch {
			case f == "":
			case f != "*" && httpsyntax.IsToken(f): // "*" is a token too
				name := textproto.CanonicalMIMEHeaderKey(f)
				star = star || slices.Contains(perClientFields, name)
				names = append(names, name)
			default: // "*", or not a field name
				star = true
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names), star
}

// perClientFields are the request fields whose value upstream the node
// makes per client or per request, so that a stored response's variant
// could only be selected by the client's own field, not the value the
// origin saw. X-Forwarded-For: the node appends the client's address to
// the chain it sent (most clients send none), so a page made for one
// address, "Vary: X-Forwarded-For", was selected by every client without
// the field, from any address. X-Request-Id: a new id per request (or a
// trusted proxy's), never matched again: each such response was stored as
// one more variant.
var perClientFields = []string{"X-Forwarded-For", "X-Request-Id"}

// normalizeFieldValue joins the list elements of all lines with ",",
// trimming OWS around each and dropping empty ones. Commas inside quoted
// strings do not split.
func normalizeFieldValue(dst []byte, lines []string) []byte {
	first := true
	for _, line := range lines {
		start, inQuote := 0, false
		for i := 0; i <= len(line); i++ {
			if i < len(line) {
				c := line[i]
				if c == '\\' && inQuote {
					i++
					continue
				}
				if c == '"' {
					inQuote = !inQuote
				}
				if c != ',' || inQuote {
					continue
				}
			}
			elem := strings.Trim(line[start:min(i, len(line))], " \t")
			start = i + 1
			if elem == "" {
				continue
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = append(dst, elem...)
		}
	}
	return dst
}

// VaryOrigin adds Origin to the Vary of a response about to be stored when
// its Access-Control-Allow-Origin names one origin (not "*") and its Vary
// does not list Origin already (nor "*", which stores nothing), and
// reports whether it did. Such a response is an answer to one Origin
// (Fetch §3.2.3; the Fetch standard's CORS protocol and HTTP caches, §3.2.5,
// asks the server for "Vary: Origin"); an origin server that forgets it
// would otherwise have a shared cache serve the one origin's credentialed
// answer to every other (RFC 9111 §4.1: only Vary selects among stored
// responses). Varying on Origin keeps the response cacheable, one variant
// per Origin value, bounded as every Vary's variants are.
func VaryOrigin(h http.Header) bool {
	specific := false
	for _, v := range h["Access-Control-Allow-Origin"] {
		if v = strings.Trim(v, " \t"); v != "" && v != "*" {
			specific = true
		}
	}
	return specific && addVary(h, "Origin")
}

// addVary adds name, a canonical field name, to h's Vary unless it lists
// it already or "*" (which stores nothing), and reports whether it did.
func addVary(h http.Header, name string) bool {
	if names, star := ParseVary(h); star || slices.Contains(names, name) {
		return false
	}
	h["Vary"] = httpsyntax.AppendList(h["Vary"], name)
	return true
}

// VaryEncoding adds Accept-Encoding to the Vary of a response about to be
// stored when it carries a content coding (Content-Encoding other than
// identity) and its Vary does not list Accept-Encoding already (nor "*"),
// and reports whether it did. The client's Accept-Encoding is forwarded,
// and an origin that compresses by it but forgets "Vary: Accept-Encoding"
// (nginx's gzip_vary is off by default) answered one client's "gzip" (or
// any coding it offers) with a body every later client was served, those
// that cannot decode it too (no Accept-Encoding, as curl and most API
// clients send). RFC 9110 §12.5.3: the coding was chosen by the request's
// Accept-Encoding, so the response varies on it whether or not it says so.
func VaryEncoding(h http.Header) bool {
	coded := false
	for elem := range httpsyntax.TokenElems(h["Content-Encoding"]) {
		if !strings.EqualFold(elem, "identity") {
			coded = true
		}
	}
	return coded && addVary(h, "Accept-Encoding")
}
