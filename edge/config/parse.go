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
	if errs := checkFields(root, configType, name); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := root.Decode(c); err != nil {
		return nil, c.decodeError(err)
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

var typeErrRE = regexp.MustCompile("^line (\\d+): cannot unmarshal !!(\\w+) `(.*)` into (.+)$")

// decodeError turns an error from yaml's Decode into FieldErrors naming the
// field path and line.
func (c *Config) decodeError(err error) error {
	var ne *nodeError
	if errors.As(err, &ne) {
		return &FieldError{File: c.file, Line: ne.node.Line, Field: pathOf(c.root, ne.node), Msg: ne.msg}
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return &FieldError{File: c.file, Msg: err.Error()}
	}
	var errs []error
	for _, msg := range te.Errors {
		m := typeErrRE.FindStringSubmatch(msg)
		if m == nil {
			errs = append(errs, &FieldError{File: c.file, Msg: msg})
			continue
		}
		line, _ := strconv.Atoi(m[1])
		errs = append(errs, &FieldError{
			File: c.file, Line: line, Field: pathAtLine(c.root, line),
			Msg: fmt.Sprintf("want %s, got %q", goTypeName(m[4]), m[3]),
		})
	}
	return errors.Join(errs...)
}

func goTypeName(t string) string {
	switch t {
	case "int", "int64":
		return "an integer"
	case "float64":
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
