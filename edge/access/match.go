package access

import (
	"net/url"
	"path"
	"strings"
)

// matchPath reports whether p is under prefix on a segment boundary: the
// prefix ends with "/", or p equals it, or p continues with "/".
func matchPath(prefix, p string) bool {
	if !strings.HasPrefix(p, prefix) {
		return false
	}
	return len(p) == len(prefix) || prefix[len(prefix)-1] == '/' || p[len(prefix)] == '/'
}

func matchAny(prefixes []string, p string) bool {
	for _, pre := range prefixes {
		if matchPath(pre, p) {
			return true
		}
	}
	return false
}

// pathForms returns the path as given and, when it is not in normal form,
// the percent-decoded and cleaned form too, so that "/%61dmin" or "//admin"
// cannot slip past a rule for "/admin" (RFC 3986 §6.2.2.2, §5.2.4). The
// second form is "" when the first is already normal.
func pathForms(p string) (string, string) {
	if !strings.ContainsAny(p, "%") && !strings.Contains(p, "//") && !strings.Contains(p, "/.") {
		return p, ""
	}
	dec, err := url.PathUnescape(p)
	if err != nil {
		dec = p
	}
	clean := path.Clean("/" + dec)
	if strings.HasSuffix(dec, "/") && clean != "/" {
		clean += "/" // keep "a directory" meaning for prefixes ending in "/"
	}
	return p, clean
}

// containsFold reports whether s contains the lower-case needle, folding
// ASCII letters of s; it does not allocate.
func containsFold(s, needle string) bool {
	n := len(needle)
	for i := 0; i+n <= len(s); i++ {
		if equalFoldLower(s[i:i+n], needle) {
			return true
		}
	}
	return false
}

func equalFoldLower(s, lower string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
