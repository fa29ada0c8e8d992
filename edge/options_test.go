package edge

import (
	"testing"
	"time"

	"edged/internal/fielderr"
	"edged/origin"
	"edged/storage"
)

// TestOptionsValidate gives each field a bad value, on top of valid
// defaults, and checks that Validate names that field and no other.
func TestOptionsValidate(t *testing.T) {
	valid := func() Options {
		o := DefaultOptions()
		o.Name, o.Store, o.Upstream = "edged", &storage.Store{}, &origin.Client{}
		return o
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid options: %v", err)
	}
	tests := []struct {
		path string
		bad  func(*Options)
	}{
		{"Name", func(o *Options) { o.Name = "" }},
		{"Name", func(o *Options) { o.Name = "a b" }},
		{"Store", func(o *Options) { o.Store = nil }},
		{"Upstream", func(o *Options) { o.Upstream = nil }},
		{"MaxObjectBytes", func(o *Options) { o.MaxObjectBytes = 0 }},
		{"BodyMemory", func(o *Options) { o.BodyMemory = -1 }},
		{"WriteTimeout", func(o *Options) { o.WriteTimeout = -time.Second }},
		{"MaxFillsPerClient", func(o *Options) { o.MaxFillsPerClient = 0 }},
		{"MaxFillsPerClient", func(o *Options) { o.MaxFillsPerClient, o.NoFillLimit = -1, true }},
		{"MaxUploadsPerClient", func(o *Options) { o.MaxUploadsPerClient = 0 }},
		{"MaxBodyBytes", func(o *Options) { o.MaxBodyBytes = -1 }},
		{"RequestBodyTimeout", func(o *Options) { o.RequestBodyTimeout = 0 }},
		{"RequestBodyMinRate", func(o *Options) { o.RequestBodyMinRate = -1 }},
		{"FetchTimeout", func(o *Options) { o.FetchTimeout = 0 }},
		{"StripRequestHeaders[1]", func(o *Options) { o.StripRequestHeaders = []string{"X-A", "X B"} }},
		{"Policy.MaxStale", func(o *Options) { o.Policy.MaxStale = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			o := valid()
			tt.bad(&o)
			got := fielderr.All(o.Validate())
			if len(got) != 1 || got[0].Path != tt.path {
				t.Fatalf("Validate = %v, want one error at %s", got, tt.path)
			}
		})
	}
	t.Run("lifted bounds need no number", func(t *testing.T) {
		o := valid()
		o.MaxFillsPerClient, o.NoFillLimit, o.MaxUploadsPerClient, o.NoUploadLimit = 0, true, 0, true
		if err := o.Validate(); err != nil {
			t.Fatal(err)
		}
	})
}
