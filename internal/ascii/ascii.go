// Package ascii folds the case of ASCII letters and nothing else.
//
// HTTP's case-insensitive pieces (field names, tokens, content codings,
// schemes, hosts, directive names) are ASCII (RFC 9110 §5.1, §5.6.2), and
// Unicode folding would be wrong for them: strings.EqualFold lets U+017F
// (ſ) stand for "s" and U+212A (K) for "k", so a name no HTTP parser would
// match could pass a check. These functions fold 'A'-'Z' only, leave every
// other byte as it is, and do not allocate unless they say so.
package ascii

// Lower returns c with 'A'-'Z' mapped to 'a'-'z'.
func Lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// ToLower returns s with 'A'-'Z' mapped to 'a'-'z'. It allocates only when s
// has an upper-case letter; otherwise it returns s itself.
func ToLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for k := i; k < len(b); k++ {
				b[k] = Lower(b[k])
			}
			return string(b)
		}
	}
	return s
}

// EqualFold reports whether a and b are equal once their ASCII letters are
// folded. Either may be a string or a byte slice, so a parser compares
// what it read without converting it.
func EqualFold[A, B ~string | ~[]byte](a A, b B) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if Lower(a[i]) != Lower(b[i]) {
			return false
		}
	}
	return true
}

// HasPrefixFold reports whether s begins with prefix, ASCII letters folded.
func HasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && EqualFold(s[:len(prefix)], prefix)
}

// ContainsFold reports whether s contains substr, ASCII letters folded.
func ContainsFold(s, substr string) bool {
	for i := 0; i+len(substr) <= len(s); i++ {
		if EqualFold(s[i:i+len(substr)], substr) {
			return true
		}
	}
	return false
}
