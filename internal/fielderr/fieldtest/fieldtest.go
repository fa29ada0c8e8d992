// Package fieldtest is the table test every Options.Validate has: each case
// breaks one field of valid options, and Validate must name that field,
// and no other, in a [*fielderr.Error].
package fieldtest

import (
	"testing"

	"edged/internal/fielderr"
)

// Case breaks one field.
type Case[T any] struct {
	// Path is the field Validate must name, e.g. "Health.Interval".
	Path string
	// Bad gives the field a value Validate must reject.
	Bad func(*T)
}

// Run checks that valid() passes Validate and that each case's options
// fail it with exactly one error, at the case's Path.
func Run[T interface{ Validate() error }](t *testing.T, valid func() T, cases []Case[T]) {
	t.Helper()
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid options: %v", err)
	}
	for _, c := range cases {
		o := valid()
		c.Bad(&o)
		err := o.Validate()
		if got := fielderr.All(err); len(got) != 1 || got[0].Path != c.Path {
			t.Errorf("%s: Validate = %v, want one error at %s", c.Path, err, c.Path)
		}
	}
}
