package policy

import (
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
)

// ParseVary returns the request field names a response varies on (RFC 9111
// §4.1), canonicalized (textproto.CanonicalMIMEHeaderKey), deduplicated and
// sorted, so that "Vary: A, B" and "Vary: b" + "Vary: a" give the same list.
// star is true when "*" appears anywhere: such a response never matches a
// later request (§4.1) and is not stored.
func ParseVary(h http.Header) (names []string, star bool) {
	for _, line := range h["Vary"] {
		for _, f := range strings.Split(line, ",") {
			f = strings.Trim(f, " \t")
			switch {
			case f == "":
			case f == "*":
				star = true
			case isToken(f):
				names = append(names, textproto.CanonicalMIMEHeaderKey(f))
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names), star
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return false
		}
	}
	return true
}

// VariantKey returns key + "\x00" followed by, for each name, the name and
// the normalized value of that request field: field lines combined and list
// elements stripped of surrounding whitespace and empty elements (RFC 9111
// §4.1, RFC 9110 §5.3, §5.6.1); Accept-Language is normalized further,
// to the extent its specification makes values equivalent
// (appendLanguages). An absent field and an empty one encode differently. Values are length-prefixed so no value can forge another
// field's encoding. names must come from ParseVary (sorted).
func VariantKey(key string, names []string, req http.Header) string {
	if len(names) == 0 {
		return key + "\x00"
	}
	b := make([]byte, 0, len(key)+1+32*len(names))
	b = append(b, key...)
	b = append(b, 0)
	var tmp []byte
	for _, name := range names {
		b = append(b, name...)
		lines, ok := req[name]
		if !ok {
			b = append(b, ":-\n"...) // absent
			continue
		}
		tag := ":+"
		if name == "Accept-Language" {
			// A normalized Accept-Language is tagged apart (":=") so that
			// no value matched as sent can equal it.
			if norm, ok := appendLanguages(tmp[:0], lines); ok {
				tmp, tag = norm, ":="
			}
		}
		if tag == ":+" {
			tmp = normalizeFieldValue(tmp[:0], lines)
		}
		b = append(b, tag...)
		b = strconv.AppendInt(b, int64(len(tmp)), 10)
		b = append(b, ':')
		b = append(b, tmp...)
		b = append(b, '\n')
	}
	return string(b)
}

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
