package config

import (
	"reflect"
	"slices"
	"strings"
)

// RestartNeeded compares a running node's configuration c with next, the
// configuration it is asked to reload, and reports every field whose value
// differs, except the fields at or under the paths in live (dotted YAML
// paths such as "sites" or "tls.certificates": what the caller rebuilds
// on a reload). Each is a [*FieldError] naming the field, at its line in
// next's file, joined and sorted; nil when only live fields changed.
//
// Fields are compared by value, section by section, so a new
// field of the file is reported as needing a restart until a caller names
// it live: a change is never ignored in silence.
func (c *Config) RestartNeeded(next *Config, live ...string) error {
	var errs []*FieldError
	var walk func(path string, a, b reflect.Value)
	walk = func(path string, a, b reflect.Value) {
		for i := 0; i < a.NumField(); i++ {
			f := a.Type().Field(i)
			name := yamlName(f)
			if f.IsExported() && f.Type.Kind() == reflect.Struct && strings.Contains(f.Tag.Get("yaml"), ",inline") {
				walk(path, a.Field(i), b.Field(i)) // its fields are the parent's
				continue
			}
			if !f.IsExported() || name == "" || name == "-" {
				continue
			}
			p := join(path, name)
			if slices.ContainsFunc(live, func(l string) bool { return within(p, l) }) {
				continue
			}
			va, vb := a.Field(i), b.Field(i)
			if va.Kind() == reflect.Struct {
				walk(p, va, vb) // name the very field that changed
				continue
			}
			if !sameValue(va, vb) {
				// The old value is not shown: it may be a secret (purge.token).
				errs = append(errs, next.fieldErrNear(p, "cannot change while edged runs: restart edged to apply it"))
			}
		}
	}
	walk("", reflect.ValueOf(c).Elem(), reflect.ValueOf(next).Elem())
	return joinSorted(errs)
}

// sameValue compares two values of a field; an empty list or mapping equals
// an absent one (the file may write either).
func sameValue(a, b reflect.Value) bool {
	switch a.Kind() {
	case reflect.Slice, reflect.Map:
		if a.Len() == 0 && b.Len() == 0 {
			return true
		}
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}
