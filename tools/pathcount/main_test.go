package main

import (
	"bytes"
	"reflect"
	"testing"
)

func TestRan(t *testing.T) {
	covdata := []byte(`edged/edge/fill.go:40:		lookup			75.0%
edged/edge/fill.go:90:		*Handler.fill		0.0%
edged/edge/handler.go:140:	*Handler.ServeHTTP	100.0%
edged/edge/policy/key.go:10:	Key			50.0%
edged/tools/pathcount/main.go:44:	main			12.5%
total						(statements)	33.3%
`)
	got := ran(covdata)
	want := []fn{{"fill.go", "lookup"}, {"handler.go", "*Handler.ServeHTTP"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ran = %v, want %v", got, want)
	}
}

func TestReport(t *testing.T) {
	var out bytes.Buffer
	report(&out, "hit", []fn{{"handler.go", "ServeHTTP"}, {"fill.go", "lookup"}, {"handler.go", "scheme"}})
	want := "hit: 2 files, 3 functions\n" +
		"  fill.go              lookup\n" +
		"  handler.go           ServeHTTP, scheme\n"
	if got := out.String(); got != want {
		t.Errorf("report:\n%s\nwant:\n%s", got, want)
	}
}
