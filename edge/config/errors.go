package config

import (
	"fmt"
	"strconv"

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

// nodeError is returned by UnmarshalYAML methods; the decoder maps its node
// back to a field path.
type nodeError struct {
	node *yaml.Node
	msg  string
}

func (e *nodeError) Error() string { return e.msg }

func nodeErrorf(n *yaml.Node, format string, args ...any) error {
	return &nodeError{node: n, msg: fmt.Sprintf(format, args...)}
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
