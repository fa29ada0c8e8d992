// Package fielderr is the error of one field of an options struct. The
// packages whose Options validate themselves (origin, storage, purge, edge
// and its helpers) return these from Validate, each naming the field by its
// Go path ("Health.Interval", "Servers[1].URL"); edge/config maps that path
// to the YAML field and its line, so a check is written once, in the package
// that owns the option.
//
// It imports nothing of edged's: leaf packages may use it (DESIGN.md,
// shared internals).
package fielderr

import (
	"errors"
	"fmt"
	"strings"
)

// Error is a problem with the field at Path.
type Error struct {
	// Path is the field's dotted Go path inside the validated struct:
	// "ConnectTimeout", "Health.Interval", "Servers[1].URL".
	Path string
	// Msg says what is wrong, e.g. "must be positive, got 0s".
	Msg string
	// Err, when set, is the error Msg was made from: a package's sentinel
	// that callers test with errors.Is.
	Err error
}

// Error reads "Path: Msg".
func (e *Error) Error() string { return e.Path + ": " + e.Msg }

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// List collects the problems of one validation, so every problem is
// reported at once. The zero value is empty and ready to use.
type List struct {
	errs []error
}

// Addf adds a problem with the field at path.
func (l *List) Addf(path, format string, args ...any) {
	l.errs = append(l.errs, &Error{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Wrapf is Addf for a problem that is also a sentinel error of the
// package: the *Error unwraps to err, which its text leaves out.
func (l *List) Wrapf(path string, err error, format string, args ...any) {
	l.errs = append(l.errs, &Error{Path: path, Msg: fmt.Sprintf(format, args...), Err: err})
}

// Check adds the problem unless ok.
func (l *List) Check(ok bool, path, format string, args ...any) {
	if !ok {
		l.Addf(path, format, args...)
	}
}

// Nest adds the field errors of err, the validation of the struct at
// prefix, with their paths under prefix ("Health" + "Interval" →
// "Health.Interval"). Other errors are added as they are.
func (l *List) Nest(prefix string, err error) {
	for _, e := range flatten(err) {
		var fe *Error
		if errors.As(e, &fe) {
			e = &Error{Path: Join(prefix, fe.Path), Msg: fe.Msg, Err: fe.Err}
		}
		l.errs = append(l.errs, e)
	}
}

// Err returns the problems joined with [errors.Join], or nil.
func (l *List) Err() error { return errors.Join(l.errs...) }

// Join appends a field path to a prefix: "Servers[1]" + "URL" →
// "Servers[1].URL", "Servers" + "[1]" → "Servers[1]".
func Join(prefix, path string) string {
	switch {
	case prefix == "":
		return path
	case path == "":
		return prefix
	case strings.HasPrefix(path, "["):
		return prefix + path
	}
	return prefix + "." + path
}

// All returns every field error in err (joined, prefixed or wrapped), in
// order.
func All(err error) []*Error {
	var out []*Error
	for _, e := range flatten(err) {
		var fe *Error
		if errors.As(e, &fe) {
			out = append(out, fe)
		}
	}
	return out
}

// flatten splits joined errors into their parts; a part that joins no
// further is kept whole (a *prefixed around an *Error included).
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// Prefix returns err with prefix before the text of each of its parts,
// which still unwrap to their *Error: a constructor's
// Prefix("origin: option ", opts.Validate()) reads
// "origin: option Health.Interval: must be positive, got 0s".
func Prefix(prefix string, err error) error {
	parts := flatten(err)
	for i, e := range parts {
		parts[i] = &prefixed{prefix: prefix, err: e}
	}
	return errors.Join(parts...)
}

type prefixed struct {
	prefix string
	err    error
}

func (p *prefixed) Error() string { return p.prefix + p.err.Error() }
func (p *prefixed) Unwrap() error { return p.err }
