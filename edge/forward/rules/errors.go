package rules

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidOptions is wrapped by every error [Options.Validate] and [New]
// return, so callers can tell a configuration problem from an I/O one.
var ErrInvalidOptions = errors.New("rules: invalid options")

// FieldError is a problem with one field of [Options].
type FieldError struct {
	// Field is the path of the field as written in YAML, relative to the
	// Options value, e.g. "rules[2].time.from" or "categories.social.files[0]".
	// edge/config prefixes it with the section ("forward.") and looks up the
	// line.
	Field string
	// Msg says what is wrong and what is wanted.
	Msg string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Unwrap makes every FieldError match ErrInvalidOptions.
func (e *FieldError) Unwrap() error { return ErrInvalidOptions }

// Errors is every problem Validate found, in field order, so that one run
// reports them all.
type Errors []*FieldError

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return "rules: " + strings.Join(msgs, "; ")
}

// Unwrap lets errors.Is and errors.As reach each FieldError.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// problems collects FieldErrors during validation.
type problems struct{ list Errors }

func (p *problems) add(field, format string, args ...any) {
	p.list = append(p.list, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
}

// err returns nil when nothing was added: a nil Errors in an error
// interface would not be nil.
func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	return p.list
}
