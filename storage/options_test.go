package storage

import (
	"testing"

	"edged/internal/fielderr"
)

// TestOptionsValidate gives each field a bad value, on top of valid
// defaults, and checks that Validate names that field and no other.
func TestOptionsValidate(t *testing.T) {
	valid := func() Options {
		o := DefaultOptions()
		o.Dir = t.TempDir()
		return o
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid options: %v", err)
	}
	tests := []struct {
		path string
		bad  func(*Options)
	}{
		{"Dir", func(o *Options) { o.Dir = "" }},
		{"MemoryBytes", func(o *Options) { o.MemoryBytes = -1 }},
		{"MemoryBytes", func(o *Options) { o.MemoryBytes, o.NoMemoryTier = 0, true }},
		{"DiskBytes", func(o *Options) { o.DiskBytes = 0 }},
		{"WriteQueue", func(o *Options) { o.WriteQueue = -1 }},
		{"WriteQueueBytes", func(o *Options) { o.WriteQueueBytes = 0 }},
	}
	for _, tt := range tests {
		o := valid()
		tt.bad(&o)
		got := fielderr.All(o.Validate())
		if len(got) != 1 || got[0].Path != tt.path {
			t.Errorf("%s: Validate = %v, want one error at %s", tt.path, got, tt.path)
		}
	}
}
