package compress

import (
	"net/http"
	"strings"

	"edged/internal/ascii"
	"edged/internal/httpsyntax"
)

// compressibleType reports whether mt, a lower-case type/subtype outside
// text/*, compresses well. Images, audio, video, WOFF/WOFF2 fonts and
// archives are already compressed and are left out on purpose.
func compressibleType(mt string) bool {
	switch mt {
	case "application/javascript", "application/ecmascript", "application/x-javascript",
		"application/json", "application/xml", "application/wasm",
		"application/yaml", "application/x-yaml", "application/toml", "application/x-ndjson",
		"application/graphql", "application/rtf", "application/x-sh",
		"application/vnd.ms-fontobject", "application/x-font-ttf", "application/x-font-otf",
		"font/ttf", "font/otf", "font/collection",
		"image/svg+xml", "image/x-icon", "image/vnd.microsoft.icon", "image/bmp":
		return true
	}
	// RFC 6838 §4.2.8 structured syntax suffixes of text formats:
	// application/ld+json, application/atom+xml, ...
	_, sub, _ := strings.Cut(mt, "/")
	for _, suffix := range [...]string{"+json", "+xml", "+yaml"} {
		if len(sub) > len(suffix) && strings.HasSuffix(sub, suffix) {
			return true
		}
	}
	return false
}

// Compressible reports whether a body of this Content-Type is worth
// compressing: text/* (but not text/event-stream, whose events must not wait
// in a compressor's buffer), JSON, JavaScript, XML, WebAssembly, SVG, and
// any +json, +xml or +yaml type. Parameters are ignored and the comparison
// is case-insensitive (RFC 9110 §8.3.1). An empty or unknown type is not
// compressible: the origin did not say what the bytes are.
func Compressible(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	mt = trimOWS(mt)
	typ, sub, ok := strings.Cut(mt, "/")
	if !ok || typ == "" || sub == "" {
		return false
	}
	if ascii.EqualFold(typ, "text") {
		return !ascii.EqualFold(sub, "event-stream")
	}
	if len(mt) > 255 {
		return false // RFC 6838 §4.2: type and subtype are at most 127 characters each.
	}
	var lower [255]byte
	n := copy(lower[:], mt)
	for i := range n {
		lower[i] = ascii.Lower(lower[i])
	}
	return compressibleType(string(lower[:n]))
}

// Eligible reports whether this edge may and should compress a response with
// header h: its Content-Type is Compressible, it has no Content-Encoding
// other than identity (RFC 9110 §8.4: the origin's coding is kept and never
// doubled), and its Cache-Control has no no-transform (RFC 9110 §7.7 and
// RFC 9111 §5.2.2.6: an intermediary must not add a content coding then).
// The body size is checked by Encoder (Options.MinSize); the status code and
// Range handling are the caller's.
func Eligible(h http.Header) bool {
	if !Compressible(h.Get("Content-Type")) {
		return false
	}
	for c := range httpsyntax.TokenElems(h.Values("Content-Encoding")) {
		if !ascii.EqualFold(c, string(Identity)) {
			return false // RFC 9110 §8.4: already encoded by the origin.
		}
	}
	for d := range httpsyntax.TokenElems(h.Values("Cache-Control")) {
		if name, _, _ := strings.Cut(d, "="); ascii.EqualFold(trimOWS(name), "no-transform") {
			return false // RFC 9111 §5.2.2.6: no-transform forbids adding a coding.
		}
	}
	return true
}
