package rules

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// domainSet matches host names against exact names and zones. Lookups cost
// one map probe per label of the host, whatever the size of the set, so a
// category list of a million names is as quick as one of ten.
type domainSet struct {
	exact map[string]struct{} // "example.com": that name
	below map[string]struct{} // "example.com": names strictly below it
}

func newDomainSet() *domainSet {
	return &domainSet{exact: map[string]struct{}{}, below: map[string]struct{}{}}
}

// patternKind says what a domain pattern covers.
type patternKind uint8

const (
	kindExact patternKind = iota // "example.com"
	kindBelow                    // "*.example.com"
	kindZone                     // ".example.com": the name and below it
)

// add puts a parsed pattern into the set.
func (s *domainSet) add(kind patternKind, name string) {
	if kind != kindBelow {
		s.exact[name] = struct{}{}
	}
	if kind != kindExact {
		s.below[name] = struct{}{}
	}
}

func (s *domainSet) len() int { return len(s.exact) + len(s.below) }

// match reports whether host, already normalized (normalizeHost), is in
// the set.
func (s *domainSet) match(host string) bool {
	if s == nil || host == "" {
		return false
	}
	if _, ok := s.exact[host]; ok {
		return true
	}
	if len(s.below) == 0 {
		return false
	}
	for i := 0; i < len(host); i++ {
		if host[i] == '.' {
			if _, ok := s.below[host[i+1:]]; ok {
				return true
			}
		}
	}
	return false
}

// parsePattern parses a domain pattern: "name", "*.name" or ".name".
// Names are compared in their ASCII form (RFC 5890 A-labels, "xn--…"), as
// they appear in the request line and in DNS; ASCII letters are folded to
// lower case (RFC 4343 §2) and one trailing dot (the root) is dropped.
func parsePattern(s string) (patternKind, string, error) {
	kind := kindExact
	switch {
	case strings.HasPrefix(s, "*."):
		kind, s = kindBelow, s[2:]
	case strings.HasPrefix(s, "."):
		kind, s = kindZone, s[1:]
	}
	name, err := checkName(s)
	if err != nil {
		return 0, "", err
	}
	return kind, name, nil
}

// checkName validates a host name and returns it normalized. Labels are
// letters, digits, "-" and "_" (names in the wild carry underscores), 1 to
// 63 bytes, the whole at most 253 bytes (RFC 1035 §2.3.4).
func checkName(s string) (string, error) {
	s = strings.TrimSuffix(s, ".")
	if s == "" {
		return "", fmt.Errorf("empty domain name")
	}
	if len(s) > 253 {
		return "", fmt.Errorf("domain name of %d bytes: at most 253", len(s))
	}
	label := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if label == 0 {
				return "", fmt.Errorf("%q has an empty label", s)
			}
			label = 0
			continue
		case c >= 0x80:
			return "", fmt.Errorf("%q is not ASCII: write its A-label form (xn--…)", s)
		case c == '*':
			return "", fmt.Errorf("%q: a wildcard may only lead, as *.%s", s, strings.TrimLeft(s[i:], "*."))
		case !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'):
			return "", fmt.Errorf("%q: byte %q not allowed in a host name", s, c)
		}
		if label++; label > 63 {
			return "", fmt.Errorf("%q has a label longer than 63 bytes", s)
		}
	}
	if label == 0 {
		return "", fmt.Errorf("%q has an empty label", s)
	}
	return strings.ToLower(s), nil
}

// normalizeHost brings a request's host (no port, no brackets) to the form
// patterns are stored in: ASCII lower case, no trailing dot. It allocates
// only when the host has an upper-case letter.
func normalizeHost(h string) string {
	h = strings.TrimSuffix(h, ".")
	for i := 0; i < len(h); i++ {
		if c := h[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

// maxListLine bounds one line of a list file; a longer line is no domain.
const maxListLine = 4096

// parseList reads a plain list of domains: one per line, "#" starts a
// comment, blank lines are ignored, and a plain name covers the name and
// every name below it ("*." and "." prefixes are read as in
// Rule.Domains). Each entry is passed to add; an error names the line.
func parseList(r io.Reader, add func(kind patternKind, name string)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256), maxListLine)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		kind, name, err := parsePattern(line)
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		if kind == kindExact {
			kind = kindZone // list files name zones
		}
		add(kind, name)
	}
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		return fmt.Errorf("a line longer than %d bytes: %w", maxListLine, err)
	} else if err != nil {
		return err
	}
	return nil
}
