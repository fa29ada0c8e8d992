package policy

import (
	"net/http"

	"edged/internal/ascii"
	"edged/internal/httpsyntax"
)

// Directive parsing.
//
// github.com/pquerna/cachecontrol (cacheobject) parses Cache-Control, but it
// does not fit the hot path or RFC 9111's error handling, so this file has its
// own scanner (the library's behaviour is pinned by tests in
// directives_test.go):
//   - one malformed directive (e.g. "max-age=abc") makes the library reject the
//     whole field, so "max-age=abc, no-store" would lose no-store; RFC 9111
//     §5.2.3 and §4.2.1 want the other directives kept and the bad value
//     treated as stale;
//   - duplicates: the library keeps the last value; RFC 9111 §4.2.1 wants the
//     first, or the response treated as stale (we treat conflicting duplicates
//     as stale);
//   - it allocates a struct, maps and slices per parse; Decide runs on every
//     hit and must not;
//   - it knows nothing of targeted fields (RFC 9213 Dictionary syntax) or
//     several field lines.

// Special values of a delta-seconds directive.
const (
	unset   int64 = -1 // directive absent
	invalid int64 = -2 // present but unusable: bad syntax or conflicting duplicates (RFC 9111 §4.2.1)
)

// maxDelta is the largest delta-seconds kept: RFC 9111 §1.2.2 says a larger
// value (or an overflow) is to be taken as 2147483648 (2^31).
const maxDelta int64 = 1 << 31

// directive flags.
const (
	fNoStore uint16 = 1 << iota
	fNoCache
	fNoCacheFields // qualified no-cache="..." (RFC 9111 §5.2.2.4)
	fPrivate
	fPrivateFields // qualified private="..." (RFC 9111 §5.2.2.7)
	fPublic
	fMustRevalidate
	fProxyRevalidate
	fMustUnderstand
	fOnlyIfCached
	fMaxStaleAny // request max-stale without a value (RFC 9111 §5.2.1.2)
	fImmutable
)

// directives is the parsed form of one cache-control-like field (request or
// response: they share the grammar of RFC 9111 §5.2). It is a value type so
// that parsing does not allocate.
type directives struct {
	flags    uint16
	present  bool // at least one directive was seen
	maxAge   int64
	sMaxAge  int64
	maxStale int64
	minFresh int64
	swr      int64 // stale-while-revalidate (RFC 5861 §3)
	sie      int64 // stale-if-error (RFC 5861 §4)
}

func newDirectives() directives {
	return directives{maxAge: unset, sMaxAge: unset, maxStale: unset, minFresh: unset, swr: unset, sie: unset}
}

func (d *directives) has(f uint16) bool { return d.flags&f != 0 }

// parseCacheControl parses every line of a Cache-Control-syntax field (RFC 9111
// §5.2: several lines form one comma-separated list). ok is false when a
// line cannot be parsed at all (an unterminated quoted string).
func parseCacheControl(lines []string) (d directives, ok bool) {
	d = newDirectives()
	ok = true
	for _, line := range lines {
		if !scanList(line, d.set) {
			ok = false
		}
	}
	return d, ok
}

// set records one directive. name is lower-cased ASCII; value is the unquoted
// argument; hasValue tells "max-age" from "max-age=".
func (d *directives) set(name, value string, hasValue bool) {
	d.present = true
	switch name {
	case "max-age": // RFC 9111 §5.2.1.1, §5.2.2.1
		setDelta(&d.maxAge, value, hasValue)
	case "s-maxage": // RFC 9111 §5.2.2.10
		setDelta(&d.sMaxAge, value, hasValue)
	case "min-fresh": // RFC 9111 §5.2.1.3
		setDelta(&d.minFresh, value, hasValue)
	case "max-stale": // RFC 9111 §5.2.1.2: no value means any staleness
		if !hasValue {
			d.flags |= fMaxStaleAny
			return
		}
		setDelta(&d.maxStale, value, true)
	case "stale-while-revalidate": // RFC 5861 §3
		setDelta(&d.swr, value, hasValue)
	case "stale-if-error": // RFC 5861 §4
		setDelta(&d.sie, value, hasValue)
	case "no-store": // RFC 9111 §5.2.1.5, §5.2.2.5
		d.flags |= fNoStore
	case "no-cache": // RFC 9111 §5.2.1.4, §5.2.2.4: with a value it only covers the named fields
		if hasValue {
			d.flags |= fNoCacheFields
		} else {
			d.flags |= fNoCache
		}
	case "private": // RFC 9111 §5.2.2.7: with a value it only covers the named fields
		if hasValue {
			d.flags |= fPrivateFields
		} else {
			d.flags |= fPrivate
		}
	case "public": // RFC 9111 §5.2.2.9
		d.flags |= fPublic
	case "must-revalidate": // RFC 9111 §5.2.2.2
		d.flags |= fMustRevalidate
	case "proxy-revalidate": // RFC 9111 §5.2.2.8
		d.flags |= fProxyRevalidate
	case "must-understand": // RFC 9111 §5.2.2.3
		d.flags |= fMustUnderstand
	case "only-if-cached": // RFC 9111 §5.2.1.7
		d.flags |= fOnlyIfCached
	case "immutable": // RFC 8246
		d.flags |= fImmutable
	}
	// RFC 9111 §5.2.3: unrecognized directives are ignored.
}

// setDelta stores a delta-seconds argument. A missing or malformed argument,
// or a second occurrence with a different value, makes the directive invalid
// (RFC 9111 §4.2.1: treat as stale rather than guess).
func setDelta(dst *int64, value string, hasValue bool) {
	v := invalid
	if hasValue {
		v = parseDelta(value)
	}
	switch {
	case *dst == unset:
		*dst = v
	case *dst != v:
		*dst = invalid
	}
}

// parseDelta parses delta-seconds = 1*DIGIT (RFC 9111 §1.2.2), saturating at
// 2^31. Signs, decimals, spaces and letters are invalid.
func parseDelta(s string) int64 {
	if s == "" {
		return invalid
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return invalid
		}
		if n < maxDelta {
			n = n*10 + int64(c-'0')
		}
	}
	if n > maxDelta {
		n = maxDelta
	}
	return n
}

// scanList walks a #(token [ "=" ( token / quoted-string ) ]) list (RFC 9111
// §5.2) and calls fn for each element. Names are compared case-insensitively
// (§5.2), so they are lower-cased (without allocating when already lower).
// Elements that do not start with a token are skipped up to the next
// top-level comma. It reports false on an unterminated quoted string.
func scanList(s string, fn func(name, value string, hasValue bool)) bool {
	return scanTargeted(s, func(name, value string, hasValue bool, _ string) { fn(name, value, hasValue) })
}

// scanTargeted is scanList that also reads each element's target: the
// device token after ";" (W3C Edge Architecture Specification 1.0,
// Surrogate-Control: "max-age=60;edge1, no-store;other"), "" when there is
// none. Whitespace around the ";" is allowed; an empty token is no target.
func scanTargeted(s string, fn func(name, value string, hasValue bool, target string)) bool {
	i := 0
	for i < len(s) {
		c := s[i]
		if c == ' ' || c == '\t' || c == ',' {
			i++
			continue
		}
		j := i
		for j < len(s) && httpsyntax.IsTchar(s[j]) {
			j++
		}
		if j == i { // not a token: skip this element
			var ok bool
			if i, ok = skipElement(s, i); !ok {
				return false
			}
			continue
		}
		name := ascii.ToLower(s[i:j])
		i = j
		value, hasValue := "", false
		if i < len(s) && s[i] == '=' {
			i++
			hasValue = true
			if i < len(s) && s[i] == '"' {
				v, n, ok := unquote(s[i:])
				if !ok {
					return false
				}
				value = v
				i += n
			} else {
				k := i
				for k < len(s) && httpsyntax.IsTchar(s[k]) {
					k++
				}
				// A value followed by junk ("100a" is all tchar; "1 2" is
				// not) keeps what was parsed; the junk is skipped below.
				value, i = s[i:k], k
			}
		}
		// "max-age =100": the name stands alone, the rest is junk.
		var target string
		target, i = elementTarget(s, i)
		fn(name, value, hasValue, target)
		var ok bool
		if i, ok = skipElement(s, i); !ok {
			return false
		}
	}
	return true
}

// elementTarget reads the ";" device-token that may follow a list element's
// directive at s[i:], and returns it and the index after it; "" and i when
// there is none.
func elementTarget(s string, i int) (string, int) {
	k := skipOWS(s, i)
	if k >= len(s) || s[k] != ';' {
		return "", i
	}
	k = skipOWS(s, k+1)
	j := k
	for j < len(s) && httpsyntax.IsTchar(s[j]) {
		j++
	}
	return s[k:j], j
}

func skipOWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// skipElement advances past the rest of a list element, honouring quoted
// strings, and returns the index just after the next top-level comma.
func skipElement(s string, i int) (int, bool) {
	for i < len(s) {
		switch s[i] {
		case ',':
			return i + 1, true
		case '"':
			_, n, ok := unquote(s[i:])
			if !ok {
				return len(s), false
			}
			i += n
		default:
			i++
		}
	}
	return i, true
}

// unquote reads a quoted-string (RFC 9110 §5.6.4) at the start of s and
// returns its content, the bytes consumed and whether it was terminated. It
// allocates only when the string has quoted-pairs.
func unquote(s string) (string, int, bool) {
	escaped := false
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			escaped = true
			i++
		case '"':
			if !escaped {
				return s[1:i], i + 1, true
			}
			b := make([]byte, 0, i)
			for k := 1; k < i; k++ {
				if s[k] == '\\' && k+1 < i {
					k++
				}
				b = append(b, s[k])
			}
			return string(b), i + 1, true
		}
	}
	return "", len(s), false
}

// parseSurrogate parses Surrogate-Control (W3C Edge Architecture
// Specification 1.0: Cache-Control syntax, each directive optionally
// targeted with ";device-token") for the surrogate named self: directives
// targeted at another device are ignored, and one targeted at self takes
// precedence over the same directive untargeted ("max-age=60,
// max-age=300;edge1" is 300 for edge1, 60 for others), as Fastly- and
// Akamai-style surrogates read it. An empty self (a cache that announces no
// device token) obeys untargeted directives only. The device token is
// compared case-insensitively. ok as parseCacheControl's.
func parseSurrogate(lines []string, self string) (d directives, ok bool) {
	d, mine := newDirectives(), newDirectives()
	ok = true
	for _, line := range lines {
		if !scanTargeted(line, func(name, value string, hasValue bool, target string) {
			switch {
			case target == "":
				d.set(name, value, hasValue)
			case self != "" && ascii.EqualFold(target, self):
				mine.set(name, value, hasValue)
			}
		}) {
			ok = false
		}
	}
	if mine.present {
		d.override(&mine)
	}
	return d, ok
}

// override gives the directives of o precedence over d's: o's flags are
// added, and each of o's delta-seconds directives replaces d's.
func (d *directives) override(o *directives) {
	d.present = d.present || o.present
	d.flags |= o.flags
	for _, f := range [...]struct{ dst, src *int64 }{
		{&d.maxAge, &o.maxAge}, {&d.sMaxAge, &o.sMaxAge}, {&d.maxStale, &o.maxStale},
		{&d.minFresh, &o.minFresh}, {&d.swr, &o.swr}, {&d.sie, &o.sie},
	} {
		if *f.src != unset {
			*f.dst = *f.src
		}
	}
}

// fieldLines returns the lines of a field without allocating. key must be
// in canonical form.
func fieldLines(h http.Header, key string) []string { return h[key] }

// policySource names where the effective response directives came from.
type policySource uint8

const (
	fromCacheControl policySource = iota
	fromCDNCacheControl
	fromSurrogateControl
)

// effective holds the response directives that apply to this cache.
type effective struct {
	directives
	source policySource
}

// targeted reports whether Cache-Control and Expires are overridden.
func (e *effective) targeted() bool { return e.source != fromCacheControl }

// responseDirectives returns the directives this cache obeys: a valid,
// non-empty CDN-Cache-Control, else a valid, non-empty Surrogate-Control,
// else Cache-Control (RFC 9213 §2.1: the first valid targeted field in
// target-list order wins, and Cache-Control and Expires are then ignored).
//
// surrogate is this cache's device token (Options.Surrogate), which
// selects the Surrogate-Control directives that apply (parseSurrogate).
func responseDirectives(h http.Header, surrogate string) effective {
	if lines := fieldLines(h, "Cdn-Cache-Control"); len(lines) > 0 {
		if d, ok := parseTargeted(lines); ok {
			return effective{d, fromCDNCacheControl}
		}
	}
	// Surrogate-Control (W3C Edge Architecture) uses Cache-Control syntax;
	// edged treats it as a targeted field below CDN-Cache-Control. One
	// whose directives all target other devices is absent for this cache.
	if lines := fieldLines(h, "Surrogate-Control"); len(lines) > 0 {
		if d, ok := parseSurrogate(lines, surrogate); ok && d.present {
			return effective{d, fromSurrogateControl}
		}
	}
	d, _ := parseCacheControl(fieldLines(h, "Cache-Control"))
	return effective{d, fromCacheControl}
}

// requestDirectives parses the request's Cache-Control.
func requestDirectives(h http.Header) directives {
	d, _ := parseCacheControl(fieldLines(h, "Cache-Control"))
	return d
}
