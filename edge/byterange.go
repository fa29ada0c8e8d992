package edge

import (
	"maps"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// parseRangeSet parses a Range field value (RFC 9110 §14.1.1): a
// case-insensitive "bytes" unit, "=", and a comma list of int-ranges
// ("first-last", "first-") and suffix-ranges ("-length"), with optional
// whitespace around list elements and empty elements allowed (§5.6.1).
//
// ok is false when the field must be ignored and the whole representation
// served: another range unit (§14.2: a server ignores units it does not
// support), a malformed or invalid range-spec ("5-2": §14.1.1 says last-pos
// below first-pos is invalid, and §14.2 lets a server ignore an invalid
// ranges-specifier, as RFC 7233 §2.1 required), or more than maxRanges
// ranges (§14.2, §17.15: many ranges cost more than the object). Positions
// too large for an int64 are valid 1*DIGIT and saturate: such a first-pos or
// last-pos lies past any body.
func parseRangeSet(v string) ([]byteRange, bool) {
	unit, set, ok := strings.Cut(v, "=")
	if !ok || !strings.EqualFold(unit, "bytes") {
		return nil, false
	}
	var out []byteRange
	for spec := range strings.SplitSeq(set, ",") {
		spec = strings.Trim(spec, " \t")
		if spec == "" {
			continue
		}
		if len(out) == maxRanges {
			return nil, false
		}
		a, b, ok := strings.Cut(spec, "-")
		if !ok {
			return nil, false
		}
		if a == "" {
			n, ok := rangePos(b)
			if !ok {
				return nil, false
			}
			out = append(out, byteRange{first: -1, last: -1, suffix: n})
			continue
		}
		first, ok := rangePos(a)
		if !ok {
			return nil, false
		}
		last := int64(-1)
		if b != "" {
			if last, ok = rangePos(b); !ok || last < first {
				return nil, false
			}
		}
		out = append(out, byteRange{first: first, last: last})
	}
	return out, len(out) > 0
}

// contentRange is the Content-Range of bytes first-last of a
// representation of size bytes (RFC 9110 §14.4), as a 206 or a part of a
// multipart/byteranges answer sends it.
func contentRange(first, last, size int64) string {
	return "bytes " + strconv.FormatInt(first, 10) + "-" + strconv.FormatInt(last, 10) + "/" + strconv.FormatInt(size, 10)
}

// rangePos parses 1*DIGIT, saturating at math.MaxInt64.
func rangePos(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (math.MaxInt64-int64(c-'0'))/10 {
			n = math.MaxInt64
			continue
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// satisfiableRanges rewrites the Range field for http.ServeContent, which
// implements If-Range, multipart answers and 416 over the stored bytes but
// would answer "bytes=-0" with a 206 for "bytes 5000-4999/5000", an invalid
// range with 416 where RFC 9110 §14.2 lets us ignore it, and an overflowing
// position with 416. It reports false when Range is to be ignored (the
// caller serves the whole 200). Otherwise the Range it passes on lists only the satisfiable
// ranges as explicit first-last pairs, or, when none is (RFC 9110 §14.1.2:
// a first-pos at or past the length, a suffix-length of 0, any range of an
// empty body), a first-pos equal to size, which ServeContent answers with
// 416 and "Content-Range: bytes */size" (§15.5.17). The rewrite is made on
// a copy of r, returned; r is left as the client sent it. n is the number
// of ranges passed on.
func satisfiableRanges(r *http.Request, size int64) (_ *http.Request, n int, ok bool) {
	set, ok := parseRangeSet(firstValue(r.Header, "Range"))
	if !ok {
		return r, 0, false
	}
	b := []byte("bytes=")
	for _, br := range set {
		start, end, ok := br.resolve(size)
		if !ok {
			continue
		}
		n++
		if len(b) > len("bytes=") {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, start, 10)
		b = append(b, '-')
		b = strconv.AppendInt(b, end, 10)
	}
	if len(b) == len("bytes=") {
		b = strconv.AppendInt(b, size, 10)
		b = append(b, '-')
	}
	r = r.WithContext(r.Context())
	r.Header = maps.Clone(r.Header)
	r.Header["Range"] = []string{string(b)}
	// The caller evaluated If-Range (ifRangeHolds): ServeContent's own
	// check takes a weak Last-Modified for a match, and any date format.
	delete(r.Header, "If-Range")
	return r, n, true
}

// ifRangeHolds evaluates If-Range (RFC 9110 §13.1.5) against the stored
// fields of the representation: true without one, or when its entity tag
// names it by strong comparison, or its date is exactly a Last-Modified
// that is a strong validator (step 2: a weak one never matches).
func ifRangeHolds(req, stored http.Header) bool {
	v := firstValue(req, "If-Range")
	if v == "" {
		return true
	}
	if v[0] == '"' || strings.HasPrefix(v, "W/") {
		etag := stored.Get("Etag")
		return v[0] == '"' && etag == v // a weak tag never matches (§8.8.3.2)
	}
	return v == strongLastModified(stored)
}

// strongLastModified is the Last-Modified of hdr when it is a strong
// validator (RFC 9110 §8.8.2.2): at least a second before the response's
// Date, so that no change within the same second can share it; else "".
func strongLastModified(hdr http.Header) string {
	lm := hdr.Get("Last-Modified")
	modified, err := http.ParseTime(lm)
	if err != nil {
		return ""
	}
	date, err := http.ParseTime(hdr.Get("Date"))
	if err != nil || date.Sub(modified) < time.Second {
		return ""
	}
	return lm
}

// maxRanges bounds the ranges one request may ask for. Many small or
// overlapping ranges cost far more to serve than the object (RFC 9110
// §14.2 lets a server ignore Range: the whole 200 is sent instead).
const maxRanges = 16
