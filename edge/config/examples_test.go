package config

import (
	"path/filepath"
	"testing"
)

// TestExamplesLoad keeps the shipped configs (and so the docs that point at
// them) in step with the schema.
func TestExamplesLoad(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob("../../examples/*/*.yaml")
	files = append(files, more...)
	if len(files) < 3 {
		t.Fatalf("found only %v", files)
	}
	for _, f := range files {
		c, err := Load(f)
		if err != nil {
			t.Errorf("Load(%s): %v", f, err)
			continue
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestExampleIsDefaults checks that examples/edged.yaml documents the real
// defaults: loading it gives Default() plus the origin.
func TestExampleIsDefaults(t *testing.T) {
	c, err := Load("../../examples/edged.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Name = "edged"
	want.Upstream.Origin = "http://127.0.0.1:9000"
	want.Upstream.Shields = []string{}
	c.file, c.root, want.file = "", nil, ""
	if got, w := dump(t, c), dump(t, want); got != w {
		t.Errorf("examples/edged.yaml differs from the defaults:\n%s\nwant\n%s", got, w)
	}
}
