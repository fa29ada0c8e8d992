package policy

import (
	"cmp"
	"slices"
	"strings"

	"edged/internal/ascii"
)

// langPref is one member of an Accept-Language field: a language-range, as
// sent, and its weight in thousandths.
type langPref struct {
	tag string
	q   int
}

// appendLanguages appends to dst the normal form of an Accept-Language
// field (RFC 9110 §12.5.4), for Vary matching (RFC 9111 §4.1: two values
// match when "normalizing both ... in a way that is known to have
// identical semantics, according to the header field's specification").
// What changes nothing in the field's meaning is normalized, nothing else:
//
//   - whitespace and empty list members (§5.6.1), field lines combined;
//   - language-range case: tags are case-insensitive (RFC 4647 §2, RFC 5646
//     §2.1.1), so "eN" is "en";
//   - weight spelling: "q=1", "Q=1.000" and no weight are one weight
//     (§12.4.2), written without trailing zeros, omitted when 1;
//   - the order of members with equal weight: a weight is the preference
//     (§12.4.2), so "en, de" and "de, en" ask for the same thing. Members
//     are listed by descending weight, then tag. Different weights keep
//     their meaning: "en;q=0.5, de" never matches "en, de;q=0.5";
//   - exact duplicates (same tag, same weight).
//
// ok is false, and nothing is appended, when the field does not parse as
// Accept-Language; the caller then matches it as sent. An origin that
// breaks ties of equal weight by order (Apache's mod_negotiation does) may
// answer "en, de" and "de, en" differently; they share one variant.
func appendLanguages(dst []byte, lines []string) ([]byte, bool) {
	var buf [8]langPref // a browser sends a few; more spill to the heap
	prefs := buf[:0]
	for _, line := range lines {
		for rest, more := line, true; more; {
			var member string
			member, rest, more = strings.Cut(rest, ",")
			if member = strings.Trim(member, " \t"); member == "" {
				continue
			}
			p, ok := parseLangPref(member)
			if !ok {
				return dst, false
			}
			prefs = append(prefs, p)
		}
	}
	if len(prefs) == 0 {
		return dst, false
	}
	slices.SortFunc(prefs, compareLangPrefs)
	prefs = slices.CompactFunc(prefs, func(a, b langPref) bool { return compareLangPrefs(a, b) == 0 })
	for i, p := range prefs {
		if i > 0 {
			dst = append(dst, ',')
		}
		for j := 0; j < len(p.tag); j++ {
			dst = append(dst, ascii.Lower(p.tag[j]))
		}
		if p.q < 1000 {
			dst = append(dst, ";q=0"...)
			if p.q > 0 {
				dst = append(dst, '.', byte('0'+p.q/100), byte('0'+p.q/10%10), byte('0'+p.q%10))
				for dst[len(dst)-1] == '0' {
					dst = dst[:len(dst)-1]
				}
			}
		}
	}
	return dst, true
}

// compareLangPrefs orders by descending weight, then by tag, ASCII case
// folded.
func compareLangPrefs(a, b langPref) int {
	if a.q != b.q {
		return cmp.Compare(b.q, a.q)
	}
	for i := 0; i < len(a.tag) && i < len(b.tag); i++ {
		if c := cmp.Compare(ascii.Lower(a.tag[i]), ascii.Lower(b.tag[i])); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a.tag), len(b.tag))
}

// parseLangPref parses language-range [ weight ] (RFC 9110 §12.5.4,
// RFC 4647 §2.1: "*" or 1*8ALPHA *("-" 1*8alphanum)).
func parseLangPref(s string) (langPref, bool) {
	tag, weight, hasWeight := strings.Cut(s, ";")
	tag = strings.TrimRight(tag, " \t")
	if !validLanguageRange(tag) {
		return langPref{}, false
	}
	p := langPref{tag: tag, q: 1000}
	if hasWeight {
		weight = strings.TrimLeft(weight, " \t")
		if len(weight) < 2 || ascii.Lower(weight[0]) != 'q' || weight[1] != '=' {
			return langPref{}, false
		}
		var ok bool
		if p.q, ok = parseQValue(weight[2:]); !ok {
			return langPref{}, false
		}
	}
	return p, true
}

func validLanguageRange(s string) bool {
	if s == "*" {
		return true
	}
	for i, rest, more := 0, s, true; more; i++ {
		var sub string
		sub, rest, more = strings.Cut(rest, "-")
		if len(sub) < 1 || len(sub) > 8 {
			return false
		}
		for j := 0; j < len(sub); j++ {
			c := ascii.Lower(sub[j])
			if !('a' <= c && c <= 'z') && (i == 0 || !('0' <= c && c <= '9')) {
				return false
			}
		}
	}
	return true
}

// parseQValue parses qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
// (RFC 9110 §12.4.2) into thousandths.
func parseQValue(s string) (int, bool) {
	if s == "" || (s[0] != '0' && s[0] != '1') {
		return 0, false
	}
	q := int(s[0]-'0') * 1000
	if len(s) == 1 {
		return q, true
	}
	if s[1] != '.' || len(s) > 5 {
		return 0, false
	}
	scale := 100
	for i := 2; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		q += int(s[i]-'0') * scale
		scale /= 10
	}
	return q, q <= 1000
}
