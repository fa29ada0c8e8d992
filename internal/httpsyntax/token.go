// Package httpsyntax holds the pieces of HTTP's grammar (RFC 9110 §5.6) that
// several packages parse, leaves included: one definition of a token, so
// that a header field name, a method, a directive or a content coding is
// accepted by exactly the same rule wherever edged reads it.
//
// Everything here is a pure function of its arguments, but RemoveHopByHop,
// which edits the header it is given in place, and none allocates but for
// the list AppendList returns.
package httpsyntax

// The tchar set of RFC 9110 §5.6.2 as two 64-bit masks, bit c of tcharLow
// for c < 64 and bit c-64 of tcharHigh for 64 <= c < 128:
//
//	tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
//	        "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
//
// that is, every visible ASCII character (VCHAR, %x21-7E) except the
// delimiters DQUOTE and "(),/:;<=>?@[\]{}". A test checks the masks against
// that definition.
const (
	tcharLow  uint64 = 0x03ff6cfa00000000
	tcharHigh uint64 = 0x57ffffffc7fffffe
)

// IsTchar reports whether c may appear in a token (RFC 9110 §5.6.2).
func IsTchar(c byte) bool {
	if c < 64 {
		return tcharLow>>c&1 != 0
	}
	if c < 128 {
		return tcharHigh>>(c-64)&1 != 0
	}
	return false
}

// IsToken reports whether s is a token: one or more tchars (RFC 9110
// §5.6.2). Field names, methods, content codings and directive names are
// tokens.
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !IsTchar(s[i]) {
			return false
		}
	}
	return true
}
