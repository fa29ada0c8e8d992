package policy

import (
	"strings"

	"edged/internal/ascii"
	"edged/internal/httpsyntax"
)

// Targeted fields (RFC 9213). CDN-Cache-Control is a Structured Field
// Dictionary (RFC 9213 §2.1, RFC 8941 §3.2); pquerna/cachecontrol does not
// parse that syntax, so this file has a small Dictionary parser that keeps
// only what the cache directives need.

// sfKind is the type of a Structured Field bare item or inner list.
type sfKind uint8

const (
	sfBool sfKind = iota
	sfInteger
	sfDecimal
	sfString
	sfToken
	sfBytes
	sfInnerList
)

// sfValue is a member value: its kind, its integer or boolean value, and
// its raw text (for strings, the unescaped content; for inner lists, the
// raw list).
type sfValue struct {
	kind sfKind
	n    int64
	b    bool
	s    string
}

// parseTargeted parses the lines of a targeted field into directives. ok is
// false when the field is empty or not a valid Dictionary, or when a known
// directive has a value of the wrong type: RFC 9213 §2.1 says the cache must
// then ignore the field and fall back to Cache-Control.
func parseTargeted(lines []string) (d directives, ok bool) {
	d = newDirectives()
	ok = true
	seen := false
	for _, line := range lines {
		good := parseSFDict(line, func(key string, v sfValue) bool {
			seen = true
			return d.setTargeted(key, v)
		})
		if !good {
			return d, false
		}
	}
	// RFC 9213 §2.1: an empty field is ignored.
	return d, ok && seen
}

// setTargeted records one Dictionary member; false means the value has the
// wrong type for a known directive ("SHOULD NOT consume values that violate
// these inferred constraints", RFC 9213 §2.1). A later duplicate overrides
// an earlier one, as Dictionary parsing requires (RFC 8941 §4.2.2).
func (d *directives) setTargeted(key string, v sfValue) bool {
	d.present = true
	switch key {
	case "max-age", "s-maxage", "stale-while-revalidate", "stale-if-error":
		if v.kind != sfInteger || v.n < 0 {
			return false
		}
		n := min(v.n, maxDelta) // RFC 9111 §1.2.2
		switch key {
		case "max-age":
			d.maxAge = n
		case "s-maxage":
			d.sMaxAge = n
		case "stale-while-revalidate":
			d.swr = n
		default:
			d.sie = n
		}
	case "no-store", "public", "must-revalidate", "proxy-revalidate", "must-understand", "immutable":
		if v.kind != sfBool {
			return false
		}
		if v.b {
			d.set(key, "", false)
		}
	case "no-cache", "private":
		switch {
		case v.kind == sfBool:
			if v.b {
				d.set(key, "", false)
			}
		case v.kind == sfString || v.kind == sfInnerList || v.kind == sfToken:
			d.set(key, v.s, true)
		default:
			return false
		}
	}
	return true
}

// targetedFieldNames returns the field names of qualified no-cache and
// private members of a valid targeted field.
func targetedFieldNames(lines []string, add func(name string)) {
	for _, line := range lines {
		parseSFDict(line, func(key string, v sfValue) bool {
			if (key == "no-cache" || key == "private") && v.kind != sfBool {
				splitNames(v.s, add)
			}
			return true
		})
	}
}

// parseSFDict parses one Dictionary (RFC 8941 §4.2.2) and calls fn for each
// member, stopping when fn returns false. It reports whether the whole line
// was valid and fn accepted every member. Keys are lower-cased first: strictly
// an upper-case key is invalid, but cache directive names are
// case-insensitive everywhere else (RFC 9111 §5.2) and rejecting
// "MaX-aGe=60" would silently fall back to Cache-Control.
func parseSFDict(s string, fn func(key string, v sfValue) bool) bool {
	p := sfParser{s: strings.Trim(s, " \t")}
	if p.s == "" {
		return true
	}
	for {
		key, ok := p.key()
		if !ok {
			return false
		}
		v := sfValue{kind: sfBool, b: true}
		if p.peek() == '=' {
			p.i++
			if v, ok = p.member(); !ok {
				return false
			}
		} else if !p.params() {
			return false
		}
		if !fn(key, v) {
			return false
		}
		p.ows()
		if p.eof() {
			return true
		}
		if p.peek() != ',' {
			return false
		}
		p.i++
		p.ows()
		if p.eof() { // trailing comma
			return false
		}
	}
}

type sfParser struct {
	s string
	i int
}

func (p *sfParser) eof() bool { return p.i >= len(p.s) }

func (p *sfParser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.s[p.i]
}

func (p *sfParser) ows() {
	for !p.eof() && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *sfParser) sp() {
	for !p.eof() && p.s[p.i] == ' ' {
		p.i++
	}
}

// key parses key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" ).
func (p *sfParser) key() (string, bool) {
	start := p.i
	c := ascii.Lower(p.peek())
	if !('a' <= c && c <= 'z') && c != '*' {
		return "", false
	}
	p.i++
	for !p.eof() {
		c = ascii.Lower(p.s[p.i])
		if !('a' <= c && c <= 'z') && !('0' <= c && c <= '9') && c != '_' && c != '-' && c != '.' && c != '*' {
			break
		}
		p.i++
	}
	return ascii.ToLower(p.s[start:p.i]), true
}

// member parses an Item or an Inner List with their parameters.
func (p *sfParser) member() (sfValue, bool) {
	if p.peek() == '(' {
		start := p.i
		p.i++
		for {
			p.sp()
			if p.peek() == ')' {
				p.i++
				break
			}
			if _, ok := p.bareItem(); !ok {
				return sfValue{}, false
			}
			if !p.params() {
				return sfValue{}, false
			}
			if c := p.peek(); c != ' ' && c != ')' {
				return sfValue{}, false
			}
		}
		v := sfValue{kind: sfInnerList, s: innerListNames(p.s[start:p.i])}
		return v, p.params()
	}
	v, ok := p.bareItem()
	if !ok {
		return v, false
	}
	return v, p.params()
}

// params parses *( ";" *SP key [ "=" bare-item ] ) and discards them:
// no cache directive defines parameters (RFC 9213 §2.1).
func (p *sfParser) params() bool {
	for p.peek() == ';' {
		p.i++
		p.sp()
		if _, ok := p.key(); !ok {
			return false
		}
		if p.peek() == '=' {
			p.i++
			if _, ok := p.bareItem(); !ok {
				return false
			}
		}
	}
	return true
}

func (p *sfParser) bareItem() (sfValue, bool) {
	c := p.peek()
	switch {
	case c == '-' || ('0' <= c && c <= '9'):
		return p.number()
	case c == '"':
		return p.str()
	case c == '?':
		if p.i+1 < len(p.s) && (p.s[p.i+1] == '0' || p.s[p.i+1] == '1') {
			v := sfValue{kind: sfBool, b: p.s[p.i+1] == '1'}
			p.i += 2
			return v, true
		}
		return sfValue{}, false
	case c == ':':
		end := strings.IndexByte(p.s[p.i+1:], ':')
		if end < 0 {
			return sfValue{}, false
		}
		for _, b := range []byte(p.s[p.i+1 : p.i+1+end]) {
			if !isBase64(b) {
				return sfValue{}, false
			}
		}
		p.i += end + 2
		return sfValue{kind: sfBytes}, true
	case c == '*' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z'):
		start := p.i
		p.i++
		for !p.eof() && (httpsyntax.IsTchar(p.s[p.i]) || p.s[p.i] == ':' || p.s[p.i] == '/') {
			p.i++
		}
		return sfValue{kind: sfToken, s: p.s[start:p.i]}, true
	}
	return sfValue{}, false
}

func isBase64(b byte) bool {
	return ('A' <= b && b <= 'Z') || ('a' <= b && b <= 'z') || ('0' <= b && b <= '9') || b == '+' || b == '/' || b == '='
}

// number parses sf-integer (at most 15 digits) or sf-decimal (RFC 8941 §4.2.4).
func (p *sfParser) number() (sfValue, bool) {
	neg := false
	if p.peek() == '-' {
		neg = true
		p.i++
	}
	var n int64
	digits, dot, frac := 0, false, 0
	for !p.eof() {
		c := p.s[p.i]
		switch {
		case '0' <= c && c <= '9':
			if dot {
				frac++
			} else {
				digits++
				n = n*10 + int64(c-'0')
			}
		case c == '.' && !dot:
			if digits > 12 {
				return sfValue{}, false
			}
			dot = true
		default:
			goto done
		}
		p.i++
		if (!dot && digits > 15) || frac > 3 {
			return sfValue{}, false
		}
	}
done:
	if digits == 0 || (dot && frac == 0) {
		return sfValue{}, false
	}
	if neg {
		n = -n
	}
	if dot {
		return sfValue{kind: sfDecimal, n: n}, true
	}
	return sfValue{kind: sfInteger, n: n}, true
}

// str parses sf-string: printable ASCII with \" and \\ escapes only.
func (p *sfParser) str() (sfValue, bool) {
	p.i++ // opening quote
	start := p.i
	escaped := false
	for !p.eof() {
		c := p.s[p.i]
		switch {
		case c == '\\':
			if p.i+1 >= len(p.s) || (p.s[p.i+1] != '"' && p.s[p.i+1] != '\\') {
				return sfValue{}, false
			}
			escaped = true
			p.i += 2
			continue
		case c == '"':
			raw := p.s[start:p.i]
			p.i++
			if escaped {
				raw = strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(raw)
			}
			return sfValue{kind: sfString, s: raw}, true
		case c < 0x20 || c > 0x7e:
			return sfValue{}, false
		}
		p.i++
	}
	return sfValue{}, false
}

// innerListNames turns an inner list of strings or tokens, as raw text
// `("a" b)`, into a comma-separated name list "a,b".
func innerListNames(raw string) string {
	raw = strings.Trim(raw, "()")
	f := strings.Fields(raw)
	for i, s := range f {
		if j := strings.IndexByte(s, ';'); j >= 0 {
			s = s[:j]
		}
		f[i] = strings.Trim(s, `"`)
	}
	return strings.Join(f, ",")
}
