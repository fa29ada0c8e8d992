package access

import (
	"path"
	"slices"
	"strconv"
	"strings"

	"edged/internal/ascii"
)

// matchPath reports whether p is under prefix on a segment boundary: the
// prefix ends with "/", or p equals it, or p continues with "/". prefix is
// lower case (compilePaths) and p is compared with ASCII letters folded:
// Windows servers (IIS, ASP.NET) and Express route "/ADMIN" to "/admin", so
// a rule must refuse every spelling an origin may serve it under.
func matchPath(prefix, p string) bool {
	if !ascii.HasPrefixFold(p, prefix) {
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

// maxDecodeRounds bounds how often Readings percent-decodes: each round is
// linear in the path, and "%25" nested deeper than this is no origin's
// reading.
const maxDecodeRounds = 4

// Readings returns the paths other than p that an origin may serve for the
// request path p, so that a check can hold whichever way the origin reads
// it. Each reading is absolute, with "//" merged and dot segments removed
// (RFC 3986 §5.2.4), a trailing "/" kept:
//
//   - percent-decoded (RFC 3986 §6.2.2.2), once and again while escapes
//     remain (an origin behind another decoding layer decodes twice),
//     "%2F" and "%5C"
//     included, with "\" read as "/" (Windows servers), and ";params"
//     removed from every segment (RFC 3986 §3.3: Tomcat, Jetty and Spring
//     serve /admin for "/admin;x", "/;x/admin" and "/admin;jsessionid=1");
//   - the same with ";params" removed before decoding, as Tomcat does (so
//     "%3B" stays a literal ";");
//   - decoded and cleaned without removing parameters (nginx, Go, Node);
//   - fully decoded, parameter-free, and without the trailing dots and
//     spaces Windows drops from file names ("/admin." is "/admin" on IIS)
//     and the whitespace Spring's trimTokens trims from a segment's ends
//     ("/%20admin/x" is "/admin/x" there).
//
// Letter case is not a reading: callers compare with ASCII case folded. It
// returns nil, without allocating, for an absolute path free of "%", ";",
// "\", "//", "/.", "./" and a trailing ".", which every origin reads as it
// is (a relative path is read as absolute).
func Readings(p string) []string {
	if strings.HasPrefix(p, "/") && !strings.ContainsAny(p, `%;\`) && !strings.Contains(p, "//") &&
		!strings.Contains(p, "/.") && !strings.Contains(p, "./") && !strings.HasSuffix(p, ".") {
		return nil
	}
	var out []string
	add := func(r string) {
		if r != p && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	once := decodeOnce(p)
	decoded := [2]string{once, decodeAll(once)}
	n := 2
	if decoded[1] == once {
		n = 1
	}
	params := strings.IndexByte(p, ';') >= 0
	for i, d := range decoded[:n] {
		sep := separators(d)
		add(cleanSegments(sep))
		if params {
			add(cleanSegments(dropParams(sep)))
			first := dropParams(p)
			if first = decodeOnce(first); i == 1 {
				first = decodeAll(first)
			}
			add(cleanSegments(separators(first)))
		}
	}
	add(windowsNames(dropParams(separators(decoded[n-1]))))
	return out
}

// windowsNames removes the trailing dots and spaces Windows drops from
// file names ("admin." and "admin " name "admin" on IIS; ". " is "."),
// and what Spring's AntPathMatcher trims from both ends of a segment with
// trimTokens (the default before Spring 4.3: " admin" is "admin"), then
// cleans the path again. Spring tokenizes with String.trim, which drops
// every byte up to and including the space (a control character reaches
// a reading only encoded twice, "%2509", since policy.ParseTarget refuses
// "%09"), and then ignores empty tokens: a segment of spaces is no
// segment ("/ /admin" is "/admin" there).
func windowsNames(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if s = strings.TrimFunc(s, javaTrimmed); s == "" {
			segs[i] = s // merged by cleanSegments, as "//" is
			continue
		}
		if t := strings.TrimRight(s, " "); t == "." || t == ".." {
			s = t
		} else if t := strings.TrimRight(s, ". "); t != "" {
			s = t
		}
		segs[i] = s
	}
	return cleanSegments(strings.Join(segs, "/"))
}

// javaTrimmed is what Java's String.trim removes: every character up to
// and including the space.
func javaTrimmed(r rune) bool { return r <= ' ' }

// canonicalRule is the reading a rule's path is matched in: every rule is
// read as its most decoded, parameter-free, lower-case form, so "/Admin",
// "/%61dmin" and "/admin;x" are one rule.
func canonicalRule(p string) string {
	return strings.ToLower(cleanSegments(dropParams(separators(decodeAll(p)))))
}

// decodeAll percent-decodes p until no valid escape is left (at most
// maxDecodeRounds times); an invalid escape stays as it is.
func decodeAll(p string) string {
	for range maxDecodeRounds {
		d := decodeOnce(p)
		if d == p {
			break
		}
		p = d
	}
	return p
}

func decodeOnce(p string) string {
	if strings.IndexByte(p, '%') < 0 {
		return p
	}
	b := make([]byte, 0, len(p))
	for i := 0; i < len(p); i++ {
		if p[i] == '%' && i+2 < len(p) {
			if v, err := strconv.ParseUint(p[i+1:i+3], 16, 8); err == nil {
				b = append(b, byte(v))
				i += 2
				continue
			}
		}
		b = append(b, p[i])
	}
	return string(b)
}

// hasDotSegment reports whether p has a "." or ".." segment.
func hasDotSegment(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// separators reads "\" as "/", as Windows servers do.
func separators(p string) string { return strings.ReplaceAll(p, `\`, "/") }

// dropParams removes ";params" from every segment (RFC 3986 §3.3).
func dropParams(p string) string {
	if strings.IndexByte(p, ';') < 0 {
		return p
	}
	b := make([]byte, 0, len(p))
	for i := 0; i < len(p); i++ {
		if p[i] == ';' {
			for i < len(p) && p[i] != '/' {
				i++
			}
			if i == len(p) {
				break
			}
		}
		b = append(b, p[i])
	}
	return string(b)
}

// cleanSegments makes p absolute, merges "//" and removes dot segments
// (RFC 3986 §5.2.4), keeping the "directory" meaning of a trailing "/", "/."
// or "/.." that prefixes ending in "/" rely on.
func cleanSegments(p string) string {
	clean := path.Clean("/" + p)
	last := p[strings.LastIndexByte(p, '/')+1:]
	if clean != "/" && (last == "" || last == "." || last == "..") {
		clean += "/"
	}
	return clean
}
