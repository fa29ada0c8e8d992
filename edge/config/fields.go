package config

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

var (
	configType      = reflect.TypeFor[Config]()
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
)

// maxVisits bounds the nodes checkFields visits, so that merge keys nested
// through aliases cannot make the walk exponential.
const maxVisits = 100000

// fieldChecker walks a document against the Config type.
type fieldChecker struct {
	file string
	errs []*FieldError
	// bad maps each value that does not fit its field's type to what
	// replaces it before decoding: nil for null (the field's default), or
	// for a list item its type's zero value, which keeps the items after
	// it at their index.
	bad    map[*yaml.Node]*yaml.Node
	visits int
}

// checkFields walks n against the Go type t and reports every unknown or
// repeated mapping key and every value that does not fit its field's type,
// naming line and field. It returns the bad values too, so that Parse can
// blank them before decoding: the decoder then reads every other field
// instead of dropping the list item or map entry around a bad value.
// tooDeep says the walk gave up (aliases and merges nested past reason).
func checkFields(n *yaml.Node, t reflect.Type, file string) (errs []*FieldError, bad map[*yaml.Node]*yaml.Node, tooDeep bool) {
	fc := &fieldChecker{file: file, bad: make(map[*yaml.Node]*yaml.Node)}
	fc.check(n, t, "")
	return fc.errs, fc.bad, fc.visits >= maxVisits
}

func (fc *fieldChecker) add(n *yaml.Node, path, msg string) {
	fc.errs = append(fc.errs, &FieldError{File: fc.file, Line: n.Line, Field: path, Msg: msg})
}

func (fc *fieldChecker) check(n *yaml.Node, t reflect.Type, path string) {
	n = resolveAlias(n)
	if fc.visits++; fc.visits == maxVisits {
		fc.add(n, "", "too many aliases and merges")
	}
	if fc.visits >= maxVisits {
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // null leaves the default in place
	}
	// Scalars with their own decoding (sizes, durations) are checked by it;
	// structs that decode over defaults are still walked field by field.
	if reflect.PointerTo(t).Implements(unmarshalerType) && t.Kind() != reflect.Struct {
		fc.checkValue(n, t, path)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		fc.check(n, t.Elem(), path)
	case reflect.Struct:
		shorthand := reflect.PointerTo(t).Implements(boolShorthandType)
		switch {
		case shorthand && n.Kind == yaml.ScalarNode:
			fc.checkBool(n, path) // log.access: false
			return
		case shorthand && n.Kind != yaml.MappingNode:
			fc.badValue(n, path, "want true, false or a mapping of fields, got "+kindName(n))
			return
		case n.Kind != yaml.MappingNode:
			fc.badValue(n, path, "want a mapping of fields, got "+kindName(n))
			return
		}
		fc.checkMapping(n, t, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			fc.badValue(n, path, "want a list, got "+kindName(n))
			return
		}
		for i, item := range n.Content {
			fc.check(item, t.Elem(), path+"["+strconv.Itoa(i)+"]")
			if item = resolveAlias(item); fc.bad[item] == nil {
				if _, isBad := fc.bad[item]; isBad {
					fc.bad[item] = zeroNode(t.Elem())
				}
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			fc.badValue(n, path, "want a mapping, got "+kindName(n))
			return
		}
		fc.checkMapKeys(n, t, path)
	case reflect.Bool:
		fc.checkBool(n, path)
	case reflect.String, reflect.Float32, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		fc.checkValue(n, t, path)
	}
}

func (fc *fieldChecker) badValue(n *yaml.Node, path, msg string) {
	fc.add(n, path, msg)
	fc.bad[n] = nil
}

// zeroNode is the YAML of t's zero value, or nil (null) if it has none.
func zeroNode(t reflect.Type) *yaml.Node {
	var z yaml.Node
	if err := z.Encode(reflect.Zero(t).Interface()); err != nil {
		return nil
	}
	return &z
}

// checkBool accepts true and false (YAML 1.2 core schema: true, True,
// TRUE), quoted or not, and nothing else. yaml.v3 also takes YAML 1.1's
// yes/no/on/off (even quoted) into a bool, yet refuses a quoted "true": a
// field would read differently from how it looks.
func (fc *fieldChecker) checkBool(n *yaml.Node, path string) {
	if n.Kind != yaml.ScalarNode {
		fc.badValue(n, path, "want true or false, got "+kindName(n))
		return
	}
	switch n.Value {
	case "true", "True", "TRUE", "false", "False", "FALSE":
		if n.ShortTag() != "!!bool" {
			// Quoted: decode it as the bool it spells.
			fc.bad[n] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strings.ToLower(n.Value)}
		}
		return
	}
	msg := fmt.Sprintf("want true or false, got %q", n.Value)
	switch strings.ToLower(n.Value) {
	case "yes", "no", "on", "off", "y", "n":
		msg += " (YAML 1.1 words such as yes, no, on and off are not accepted: write true or false)"
	}
	fc.badValue(n, path, msg)
}

// checkValue decodes n into a new value of the scalar type t, as the
// decoder will, and reports every reason it does not fit.
func (fc *fieldChecker) checkValue(n *yaml.Node, t reflect.Type, path string) {
	err := n.Decode(reflect.New(t).Interface())
	if err == nil {
		return
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		fc.badValue(n, path, err.Error())
		return
	}
	for _, msg := range te.Errors {
		_, text := valueProblem(msg)
		fc.badValue(n, path, text)
	}
}

// eachKey calls fn for each key of mapping n, following YAML merge keys
// ("<<", checked against t) and reporting a key set twice as a repeated
// what ("key" in a map, "field" in a struct) instead of calling fn.
//
// A repeated key is removed from n, its first value kept: the decoder
// refuses a mapping with a repeated key as a whole, so every other field of
// it would keep its default and Validate would report their absence too
// (a repeated "listen" made "upstream.origin: required" appear).
func (fc *fieldChecker) eachKey(n *yaml.Node, t reflect.Type, path, what string, fn func(key, val *yaml.Node)) {
	seen := make(map[string]int)
	kept := n.Content[:0:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		if key.Value == "<<" && key.ShortTag() == "!!merge" {
			kept = append(kept, key, val)
			fc.check(val, t, path)
			continue
		}
		if first, ok := seen[key.Value]; ok {
			fc.add(key, join(path, key.Value), fmt.Sprintf("repeated %s (first set at line %d)", what, first))
			continue
		}
		seen[key.Value] = key.Line
		kept = append(kept, key, val)
		fn(key, val)
	}
	if len(kept) < len(n.Content) {
		n.Content = kept
	}
}

// checkMapKeys reports repeated keys of a mapping decoded into a Go map
// (pool names, header names) and checks each value against the map's
// element type.
func (fc *fieldChecker) checkMapKeys(n *yaml.Node, t reflect.Type, path string) {
	fc.eachKey(n, t, path, "key", func(key, val *yaml.Node) {
		fc.check(val, t.Elem(), join(path, key.Value))
	})
}

func (fc *fieldChecker) checkMapping(n *yaml.Node, t reflect.Type, path string) {
	fc.eachKey(n, t, path, "field", func(key, val *yaml.Node) {
		f, ok := fieldByTag(t, key.Value)
		if !ok {
			where := "at the top level"
			if path != "" {
				where = "in " + path
			}
			fc.add(key, "", fmt.Sprintf("unknown field %q %s (known: %s)", key.Value, where, strings.Join(fieldNames(t), ", ")))
			return
		}
		fc.check(val, f.Type, join(path, key.Value))
	})
}

func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.IsExported() && yamlName(f) == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func fieldNames(t reflect.Type) []string {
	var names []string
	for i := 0; i < t.NumField(); i++ {
		if f := t.Field(i); f.IsExported() {
			names = append(names, yamlName(f))
		}
	}
	return names
}

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// lookup returns the value node at a dotted path such as "upstream.shields[1]",
// or nil when the file does not set it.
func lookup(root *yaml.Node, path string) *yaml.Node {
	n := root
	for _, seg := range strings.Split(path, ".") {
		name, idx, hasIdx := strings.Cut(seg, "[")
		n = child(n, name)
		if hasIdx {
			i, err := strconv.Atoi(strings.TrimSuffix(idx, "]"))
			n = resolveAlias(n)
			if err != nil || n == nil || n.Kind != yaml.SequenceNode || i < 0 || i >= len(n.Content) {
				return nil
			}
			n = n.Content[i]
		}
		if n == nil {
			return nil
		}
	}
	return n
}

// child returns the value of key in mapping n, following merges and aliases
// (at most a few merges deep).
func child(n *yaml.Node, key string) *yaml.Node { return childDepth(n, key, 0) }

func childDepth(n *yaml.Node, key string, depth int) *yaml.Node {
	n = resolveAlias(n)
	if n == nil || n.Kind != yaml.MappingNode || depth > 8 {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key && n.Content[i].ShortTag() != "!!merge" {
			return n.Content[i+1]
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].ShortTag() == "!!merge" {
			if v := childDepth(n.Content[i+1], key, depth+1); v != nil {
				return v
			}
		}
	}
	return nil
}

// paths maps every value node under root to its dotted path.
func paths(root *yaml.Node) map[*yaml.Node]string {
	out := make(map[*yaml.Node]string)
	var walk func(n *yaml.Node, path string, depth int)
	walk = func(n *yaml.Node, path string, depth int) {
		if n == nil || depth > 32 {
			return
		}
		if path != "" {
			out[n] = path
		}
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i+1], join(path, n.Content[i].Value), depth+1)
			}
		case yaml.SequenceNode:
			for i, item := range n.Content {
				walk(item, path+"["+strconv.Itoa(i)+"]", depth+1)
			}
		}
	}
	walk(root, "", 0)
	return out
}

// pathAtLine returns the path of the deepest value that starts on line.
func pathAtLine(root *yaml.Node, line int) string {
	var found []string
	for n, p := range paths(root) {
		if n.Line == line {
			found = append(found, p)
		}
	}
	sort.Slice(found, func(i, j int) bool {
		if len(found[i]) != len(found[j]) {
			return len(found[i]) > len(found[j])
		}
		return found[i] < found[j]
	})
	if len(found) == 0 {
		return ""
	}
	return found[0]
}
