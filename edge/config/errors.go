package config

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// FieldError is a problem with one field of a configuration.
type FieldError struct {
	File  string // file name, or "" when the field did not come from a file
	Line  int    // 1-based line in File, or 0 when unknown
	Field string // dotted path, e.g. "cache.memory"; "" for the whole file
	Msg   string
}

// Error reads "file:line: field: msg", leaving out the parts that are unknown.
func (e *FieldError) Error() string {
	s := ""
	if e.File != "" {
		s = e.File
		if e.Line > 0 {
			s += ":" + strconv.Itoa(e.Line)
		}
		s += ": "
	}
	if e.Field != "" {
		s += e.Field + ": "
	}
	return s + e.Msg
}

// nodeErrorf is what UnmarshalYAML methods return for a bad value: a
// *yaml.TypeError, because the decoder goes on with the other fields after
// one (any other error stops it, hiding every later problem). The message
// starts with the node's line, as the decoder's own type errors do, so
// [valueProblem] can place it.
func nodeErrorf(n *yaml.Node, format string, args ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: ", n.Line) + fmt.Sprintf(format, args...)}}
}

// fieldErr builds a FieldError for path, with the line of the path's value
// in the file when the file set it.
func (c *Config) fieldErr(path, format string, args ...any) *FieldError {
	e := &FieldError{Field: path, Msg: fmt.Sprintf(format, args...)}
	if c.external[path] {
		return e
	}
	if n := lookup(c.root, path); n != nil {
		e.File, e.Line = c.file, n.Line
	}
	return e
}

// fieldErrNear is fieldErr for a field that may be missing from the file
// (a required field left out): the line is that of the nearest enclosing
// value the file does set.
func (c *Config) fieldErrNear(path, format string, args ...any) *FieldError {
	e := c.fieldErr(path, format, args...)
	for p := path; e.Line == 0 && p != "" && !c.external[path]; {
		p = parentPath(p)
		if n := lookup(c.root, p); n != nil {
			e.File, e.Line = c.file, n.Line
		}
	}
	return e
}

// keyErr is a FieldError about the key name of mapping path (a pool name),
// at the key's line.
func (c *Config) keyErr(path, key, format string, args ...any) *FieldError {
	e := &FieldError{Field: path, Msg: fmt.Sprintf(format, args...)}
	n := resolveAlias(lookup(c.root, path))
	if n == nil || n.Kind != yaml.MappingNode {
		return e
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			e.File, e.Line, e.Field = c.file, n.Content[i].Line, path+"."+key
			break
		}
	}
	return e
}

// parentPath drops the last segment of a dotted path: "a.b[1].c" → "a.b[1]",
// "a.b[1]" → "a.b", "a" → "".
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}
