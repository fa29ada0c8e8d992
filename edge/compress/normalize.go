package compress

import (
	"slices"
	"strings"
)

// Zstd is the zstd coding (RFC 8878). This package does not produce it,
// but origins do and browsers ask for it, so NormalizeAccept keeps it.
const Zstd Encoding = "zstd"

// normalCodings are the codings NormalizeAccept keeps, in the order it
// lists codings of equal weight: the ones this edge produces and the ones
// origins commonly send to browsers. deflate is left out (browsers list it,
// origins almost never send it, and its zlib/raw ambiguity made servers
// drop it), as Fastly's normalization leaves it out.
var normalCodings = [...]Encoding{Brotli, Gzip, Zstd}

// levelWeights are the weights NormalizeAccept writes for the first,
// second and third distinct weight the client gave the normalCodings.
var levelWeights = [...]string{"", ";q=0.5", ";q=0.25"}

// NormalizeAccept returns the Accept-Encoding value that stands for the
// field lines acceptEncoding (at least one) when a shared cache keys a
// request and forwards it: the codings among br, gzip and zstd that the
// field makes acceptable (RFC 9110 §12.5.3: listed with a weight above 0,
// or not listed while "*" is, with a weight above 0), the most preferred
// first, codings of equal weight in that fixed order, each distinct weight
// written as 1, 0.5 and 0.25; "identity" when none is acceptable. The
// client's order of preference among the three is kept, not its exact
// weights, so there are 26 values: a response that varies on
// Accept-Encoding has at most 27 variants (with the absent field), whatever
// clients send. A client cannot spend a URL's variant budget on made-up
// values ("Accept-Encoding: junk1", ...), and browsers whose fields differ
// in spelling, order of equal codings or deflate share one variant.
//
// What is lost, as in every CDN's normalization: codings other than the
// three (the origin sends identity instead, which is acceptable), weights
// against identity, and a refusal of identity ("identity;q=0" alone becomes
// "identity": RFC 9110 §12.1 lets a server disregard the field rather than
// answer 406). Weights are parsed as Negotiate parses them. The common
// browser values are answered without parsing or allocating.
func NormalizeAccept(acceptEncoding []string) string {
	if len(acceptEncoding) == 1 {
		switch v := acceptEncoding[0]; v { // the common values, without parsing
		case "gzip, deflate, br, zstd", "deflate, gzip, br, zstd", "br, gzip, zstd":
			return "br, gzip, zstd"
		case "gzip, deflate, br", "gzip, br", "br, gzip":
			return "br, gzip"
		case "gzip, deflate", "gzip,deflate", "gzip":
			return "gzip"
		case "identity":
			return v
		}
	}
	type pref struct {
		c Encoding
		q int
	}
	var prefs [len(normalCodings)]pref
	n := 0
	starQ, starListed := weightOf(acceptEncoding, "*")
	for _, c := range normalCodings {
		q, listed := weightOf(acceptEncoding, c)
		if !listed && starListed {
			q = starQ // RFC 9110 §12.5.3: "*" matches any coding not listed.
		}
		if q > qZero { // RFC 9110 §12.5.3: q=0 is "not acceptable"
			prefs[n] = pref{c, q}
			n++
		}
	}
	if n == 0 {
		return "identity"
	}
	slices.SortStableFunc(prefs[:n], func(a, b pref) int { return b.q - a.q })
	var sb strings.Builder
	level := 0
	for i, p := range prefs[:n] {
		if i > 0 {
			if p.q < prefs[i-1].q {
				level++
			}
			sb.WriteString(", ")
		}
		sb.WriteString(string(p.c))
		sb.WriteString(levelWeights[level])
	}
	return sb.String()
}
