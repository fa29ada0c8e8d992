package httpsyntax

import (
	"iter"
	"net/http"
	"strings"
)

// TEHandling says what RemoveHopByHop does with the TE field.
type TEHandling uint8

const (
	// DropTE removes TE like every other hop-by-hop field: for the hop
	// that reads it (the upstream client, which asks for trailers itself).
	DropTE TEHandling = iota
	// KeepTE leaves TE in place, even when Connection names it, for a
	// later step of the same node that reads it and then removes it (the
	// forward proxy hands its request to the upstream client, which does).
	KeepTE
)

// hopByHop are the fields RFC 9110 §7.6.1 names as meaningful for one
// connection only, with the de-facto Keep-Alive and Proxy-Connection that
// old clients still send, and the proxy credential fields, which concern
// the next hop only (RFC 9110 §11.7.1, §11.7.2). Te is dealt with apart.
var hopByHop = [...]string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding",
	"Upgrade", "Proxy-Authorization", "Proxy-Authenticate",
}

// RemoveHopByHop deletes the hop-by-hop fields of h in place: every field
// named in Connection, then the fixed list (RFC 9110 §7.6.1), and TE unless
// te is KeepTE. It must run before a proxy adds its own fields, so that a
// Connection header can never remove what the proxy adds. It reports
// whether TE, as it was, asked for trailers (RFC 9110 §10.1.4), the one TE
// value worth passing on.
//
// Connection is a list of tokens (RFC 9110 §7.6.1, §5.6.1): the field lines
// are combined, empty elements and optional whitespace ignored, names
// compared case-insensitively; parameters, which the grammar does not
// allow, are cut off at ';' rather than trusted.
func RemoveHopByHop(h http.Header, te TEHandling) (teTrailers bool) {
	for elem := range TokenElems(h["Te"]) {
		if strings.EqualFold(elem, "trailers") {
			teTrailers = true
		}
	}
	// RFC 9110 §7.6.1: the fields Connection names are hop-by-hop too.
	for name := range TokenElems(h["Connection"]) {
		if te == KeepTE && strings.EqualFold(name, "te") {
			continue
		}
		h.Del(name)
	}
	for _, name := range hopByHop {
		delete(h, name)
	}
	if te == DropTE {
		delete(h, "Te")
	}
	return teTrailers
}

// TokenElems yields the non-empty elements of a comma-separated list
// field's lines (RFC 9110 §5.6.1) with optional whitespace (SP and HTAB,
// §5.6.3) trimmed and any parameters after ';' cut off: the list syntax of
// tokens (Connection, TE, Upgrade). Every reader of Connection walks it
// through this one iterator, so that the edge removes exactly the fields
// the upstream client would remove (RFC 9110 §7.6.1).
func TokenElems(lines []string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for elem := range elems(lines) {
			elem, _, _ = strings.Cut(elem, ";")
			if elem = strings.TrimRight(elem, " \t"); elem != "" && !yield(elem) {
				return
			}
		}
	}
}
