package purge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// requestFields are the JSON fields of a purge request: the phrase its
// type error uses, and where its value goes. The API's clients are shell
// scripts and pipelines, not Go programs: an error names the field and the
// type it wants, never a Go struct or the decoder's internals.
var requestFields = map[string]struct {
	want string
	dst  func(*Request) any
}{
	"urls":     {"an array of strings", func(r *Request) any { return &r.URLs }},
	"prefixes": {"an array of strings", func(r *Request) any { return &r.Prefixes }},
	"tags":     {"an array of strings", func(r *Request) any { return &r.Tags }},
	"hosts":    {"an array of strings", func(r *Request) any { return &r.Hosts }},
	"all":      {"true or false", func(r *Request) any { return &r.All }},
	"soft":     {"true or false", func(r *Request) any { return &r.Soft }},
}

// fieldAliases are names clients reach for that edged spells otherwise
// (Fastly and Varnish say "surrogate key", some APIs "keys" or "purge_all").
var fieldAliases = map[string]string{
	"keys": "tags", "key": "tags", "surrogate_keys": "tags", "surrogate_key": "tags",
	"cache_tags": "tags", "purge_all": "all", "everything": "all",
}

// decodeRequest decodes one JSON object strictly: unknown fields, values of
// the wrong type and trailing data are refused with a message for people.
// Errors wrap ErrInvalid.
func decodeRequest(data []byte) (Request, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return Request{}, fmt.Errorf("%w: %s", ErrInvalid, jsonProblem(err))
	}
	if raw == nil {
		// JSON null decodes into a nil map without error.
		return Request{}, fmt.Errorf("%w: the body must be a JSON object such as {\"urls\":[...]}, not null", ErrInvalid)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Request{}, fmt.Errorf("%w: trailing data after the request object", ErrInvalid)
	}
	if name := duplicateField(data); name != "" {
		// A map keeps the last value: {"urls":[A],"urls":[B]} purged B
		// alone and answered 200, A silently dropped.
		return Request{}, fmt.Errorf("%w: field %q given twice: give each field once (put every item in one array)", ErrInvalid, name)
	}
	names := make([]string, 0, len(raw))
	for name := range raw {
		names = append(names, name)
	}
	sort.Strings(names) // one answer for one body, whatever the map order
	var r Request
	for _, name := range names {
		if err := r.setField(name, raw[name]); err != nil {
			return Request{}, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	}
	return r, nil
}

// duplicateField returns the first name data, one JSON object already
// decoded without error, holds more than once at its top level; "" if
// none.
func duplicateField(data []byte) string {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // '{'
		return ""
	}
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		name, _ := tok.(string)
		if seen[name] {
			return name
		}
		seen[name] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return ""
		}
	}
	return ""
}

// setField decodes one field's value into r.
func (r *Request) setField(name string, value json.RawMessage) error {
	field, known := requestFields[name]
	if !known {
		if s := suggestField(name); s != "" {
			return fmt.Errorf("unknown field %q (did you mean %q?)", name, s)
		}
		return fmt.Errorf("unknown field %q (the fields are all, hosts, prefixes, soft, tags, urls)", name)
	}
	if err := json.Unmarshal(value, field.dst(r)); err != nil {
		return fmt.Errorf("field %q must be %s", name, field.want)
	}
	return nil
}

// suggestField returns the known field name meant by an unknown one: a
// known alias, the same name in another case, or one within two edits
// ("url" for "urls", "prefix" for "prefixes"); "" when none is close.
func suggestField(name string) string {
	lower := strings.ToLower(name)
	if s, ok := fieldAliases[lower]; ok {
		return s
	}
	best, bestDist := "", 3
	for known := range requestFields {
		if d := editDistance(lower, known); d < bestDist || d == bestDist && known < best {
			best, bestDist = known, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of two short ASCII strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// jsonProblem says what is wrong with a body that is not one JSON object.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return `empty body: send a JSON object such as {"urls":["https://www.example.com/a"]}`
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the JSON ends too early (unfinished object, array or string)"
	case errors.As(err, &syn):
		return fmt.Sprintf("not valid JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.As(err, &typ):
		return fmt.Sprintf(`the body must be a JSON object such as {"urls":[...]}, not %s`, typ.Value)
	default:
		return "not valid JSON"
	}
}
