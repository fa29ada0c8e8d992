package edge

import (
	"fmt"
	"net/http"
	"strings"
)

// PathPattern is a route path with named captures, after Go 1.22's
// http.ServeMux wildcards: segments separated by "/", each either literal
// text or a whole-segment capture "{name}" (one non-empty segment), and
// the last one may be "{name...}" (the rest of the path, maybe empty).
// "/v1/users/{id}" matches "/v1/users/42" with id = "42"; it does not
// match "/v1/users/" or "/v1/users/42/posts". Captured values are the
// path's normalized, still percent-encoded text: a capture never holds a
// "/" or a CR/LF, so it is safe in a path and in a header value.
type PathPattern struct {
	raw    string
	prefix string
	segs   []patSeg
	names  []string // capture names, in order
}

type patSeg struct {
	lit  string // literal segment; "" with name set for a capture
	name string
	rest bool // {name...}
}

// ParsePathPattern parses s as described on [PathPattern].
func ParsePathPattern(s string) (*PathPattern, error) {
	if !strings.HasPrefix(s, "/") {
		return nil, fmt.Errorf("must start with /, got %q", s)
	}
	p := &PathPattern{raw: s}
	parts := strings.Split(s[1:], "/")
	literal := true
	for i, part := range parts {
		if !strings.ContainsAny(part, "{}") {
			if part == "" && i < len(parts)-1 {
				return nil, fmt.Errorf("empty segment in %q", s)
			}
			p.segs = append(p.segs, patSeg{lit: part})
			if literal {
				p.prefix += "/" + part
			}
			continue
		}
		name, open := strings.CutPrefix(part, "{")
		name, closed := strings.CutSuffix(name, "}")
		if !open || !closed || strings.ContainsAny(name, "{}") {
			return nil, fmt.Errorf("segment %q: a capture is a whole segment, {name} or {name...}", part)
		}
		name, rest := strings.CutSuffix(name, "...")
		switch {
		case !isCaptureName(name):
			return nil, fmt.Errorf("segment %q: capture name must be letters, digits and _, not starting with a digit", part)
		case rest && i < len(parts)-1:
			return nil, fmt.Errorf("segment %q: {name...} must be the last segment", part)
		case p.index(name) >= 0:
			return nil, fmt.Errorf("capture {%s} appears twice", name)
		}
		if literal {
			p.prefix += "/"
			literal = false
		}
		p.segs = append(p.segs, patSeg{name: name, rest: rest})
		p.names = append(p.names, name)
	}
	if literal {
		return nil, fmt.Errorf("%q has no {capture}", s)
	}
	return p, nil
}

func isCaptureName(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b == '_' || i > 0 && b >= '0' && b <= '9') {
			return false
		}
	}
	return s != ""
}

// String is the pattern as written.
func (p *PathPattern) String() string { return p.raw }

// Prefix is the literal part before the first capture, ending in "/":
// the path prefix the route is chosen by.
func (p *PathPattern) Prefix() string { return p.prefix }

func (p *PathPattern) index(name string) int {
	for i, n := range p.names {
		if n == name {
			return i
		}
	}
	return -1
}

// match returns the values of p's captures in path, or false when path
// does not match p.
func (p *PathPattern) match(path string) ([]string, bool) {
	rest, ok := strings.CutPrefix(path, "/")
	if !ok {
		return nil, false
	}
	values := make([]string, 0, len(p.names))
	for i, s := range p.segs {
		if s.rest {
			return append(values, rest), true
		}
		seg, after, more := strings.Cut(rest, "/")
		last := i == len(p.segs)-1
		if last == more {
			return nil, false // the path has fewer or more segments
		}
		if s.name == "" {
			if seg != s.lit {
				return nil, false
			}
		} else {
			if seg == "" {
				return nil, false
			}
			values = append(values, seg)
		}
		rest = after
	}
	return values, true
}

// Expand replaces each "{name}" or "{name...}" of tmpl that names one of
// p's captures with its value; other braces stay as they are.
func (p *PathPattern) expand(tmpl string, values []string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(tmpl, '{')
		j := strings.IndexByte(tmpl[i+1:], '}') + i + 1
		if i < 0 || j <= i {
			b.WriteString(tmpl)
			return b.String()
		}
		name, _ := strings.CutSuffix(tmpl[i+1:j], "...")
		if k := p.index(name); k >= 0 && k < len(values) {
			b.WriteString(tmpl[:i])
			b.WriteString(values[k])
		} else {
			b.WriteString(tmpl[:j+1])
		}
		tmpl = tmpl[j+1:]
	}
}

// CheckTemplate reports a "{name}" of tmpl that names none of p's
// captures, or nil.
func (p *PathPattern) CheckTemplate(tmpl string) error {
	for rest := tmpl; ; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			return nil
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return fmt.Errorf("unclosed { in %q", tmpl)
		}
		name, _ := strings.CutSuffix(rest[i+1:i+j], "...")
		if p.index(name) < 0 {
			return fmt.Errorf("{%s} is not a capture of %s (captures: %s)", name, p.raw, strings.Join(p.names, ", "))
		}
		rest = rest[i+j+1:]
	}
}

// expandHeaders sets the fields of set whose value uses a capture to the
// value with the request's captures filled in (after HeaderRules.apply set
// them as written).
func (x *exchange) expandHeaders(h http.Header, set map[string]string) {
	p := x.route.Pattern
	if p == nil || x.captures == nil {
		return
	}
	for name, v := range set {
		if strings.IndexByte(v, '{') >= 0 {
			h.Set(name, p.expand(v, x.captures))
		}
	}
}
