package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"

	"gopkg.in/yaml.v3"
)

// Load reads and parses the file at path; messages name the file as given.
// It does not validate: call [Config.Validate] once flags are applied.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, path)
}

// Parse decodes a YAML configuration over the defaults. name is the file
// name used in error messages. Empty input (or only comments, or null)
// yields the defaults. It does not validate: call [Config.Validate].
//
// When the only problems are with fields (unknown, repeated, or a value of
// the wrong type), Parse returns the Config decoded as far as it goes, each
// bad field keeping its default, together with the error; Validate and
// [Config.Check] report those problems again beside the values' own, so a
// caller can apply flags, validate and print every problem of the file in
// one run. A file that cannot be read as one YAML mapping yields a nil
// Config.
func Parse(data []byte, name string) (*Config, error) {
	c := Default()
	c.file = name
	root, err := parseDocument(data, name)
	if err != nil || root == nil {
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	c.root = root
	problems, bad, tooDeep := checkFields(root, configType, name)
	if tooDeep {
		return nil, joinSorted(problems)
	}
	// A bad value is replaced (null leaves its field's default in place):
	// the decoder would otherwise drop the whole list item or map entry
	// around it, and Validate would judge a different file.
	for n, repl := range bad {
		line, col := n.Line, n.Column
		if repl == nil {
			repl = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
		}
		*n = *repl
		n.Line, n.Column = line, col
	}
	if err := root.Decode(c); err != nil {
		more, fatal := c.decodeProblems(err, problems)
		problems = append(problems, more...)
		if fatal {
			return nil, joinSorted(problems)
		}
	}
	c.problems = problems
	if len(problems) > 0 {
		return c, joinSorted(problems)
	}
	return c, nil
}

// parseDocument returns the top-level mapping of the single document in
// data, or nil when the document is empty.
func parseDocument(data []byte, name string) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxError(name, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, &FieldError{File: name, Line: extra.Line, Msg: "a second YAML document: the configuration must be one document"}
	case !errors.Is(err, io.EOF):
		return nil, syntaxError(name, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	top := resolveAlias(doc.Content[0])
	switch {
	case top.Kind == yaml.ScalarNode && top.ShortTag() == "!!null":
		return nil, nil
	case top.Kind != yaml.MappingNode:
		return nil, &FieldError{File: name, Line: top.Line, Msg: "the top level must be a mapping of fields (name: value), got " + kindName(top)}
	}
	return top, nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError rewrites yaml.v3's "yaml: line 3: msg" as "name:3: msg".
func syntaxError(name string, err error) error {
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &FieldError{File: name, Line: line, Msg: "invalid YAML: " + m[2]}
	}
	return &FieldError{File: name, Msg: "invalid YAML: " + err.Error()}
}

// The messages of a *yaml.TypeError: the decoder's own, and nodeErrorf's.
var (
	typeErrRE = regexp.MustCompile("^line (\\d+): cannot unmarshal !!(\\w+)(?: `(.*)`)? into (.+)$")
	lineMsgRE = regexp.MustCompile(`^line (\d+): (.*)$`)
)

// valueProblem reads one message of a *yaml.TypeError: the line it names
// (0 when none) and what to tell the operator.
func valueProblem(msg string) (line int, text string) {
	if m := typeErrRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		got := strconv.Quote(m[3])
		switch m[2] {
		case "map":
			got = "a mapping"
		case "seq":
			got = "a list"
		}
		return line, fmt.Sprintf("want %s, got %s", goTypeName(m[4]), got)
	}
	if m := lineMsgRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		return line, m[2]
	}
	return 0, msg
}

// decodeProblems turns an error from yaml's Decode into FieldErrors naming
// the field path and line, leaving out lines that found already reports.
// fatal says the decoder stopped before the end, so the Config is partial.
func (c *Config) decodeProblems(err error, found []*FieldError) (_ []*FieldError, fatal bool) {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return []*FieldError{{File: c.file, Msg: err.Error()}}, true
	}
	reported := make(map[int]bool)
	for _, e := range found {
		reported[e.Line] = true
	}
	var out []*FieldError
	for _, msg := range te.Errors {
		line, text := valueProblem(msg)
		if line > 0 && reported[line] {
			continue
		}
		out = append(out, &FieldError{File: c.file, Line: line, Field: pathAtLine(c.root, line), Msg: text})
	}
	return out, false
}

func goTypeName(t string) string {
	switch t {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "string":
		return "a string"
	case "[]string":
		return "a list of strings"
	}
	return t
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}
