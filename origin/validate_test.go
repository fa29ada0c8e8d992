package origin

import (
	"errors"
	"testing"
	"time"

	"edged/internal/fielderr"
)

// wantFieldError checks that err holds exactly one *fielderr.Error, at path.
func wantFieldError(t *testing.T, err error, path string) {
	t.Helper()
	got := fielderr.All(err)
	if len(got) != 1 || got[0].Path != path {
		t.Fatalf("Validate = %v, want one error at %s", err, path)
	}
	var fe *fielderr.Error
	if !errors.As(err, &fe) {
		t.Fatalf("%v is not a *fielderr.Error", err)
	}
}

// TestOptionsValidate gives each field a bad value, on top of valid
// defaults, and checks that Validate names that field and no other.
func TestOptionsValidate(t *testing.T) {
	valid := func() Options {
		o := DefaultOptions()
		o.Origin, o.Via = "http://o", "edged"
		return o
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid options: %v", err)
	}
	tests := []struct {
		path string
		bad  func(*Options)
	}{
		{"Origin", func(o *Options) { o.Origin = "ftp://o" }},
		{"Pool", func(o *Options) { o.Pool = &Pool{} }},
		{"ShieldFallback", func(o *Options) { o.Origin, o.Shields, o.ShieldFallback = "", []string{"http://s"}, true }},
		{"Shields[1]", func(o *Options) { o.Shields = []string{"http://s", "http://s"} }},
		{"Via", func(o *Options) { o.Via = "a b" }},
		{"ConnectTimeout", func(o *Options) { o.ConnectTimeout = 0 }},
		{"HeaderTimeout", func(o *Options) { o.HeaderTimeout = -time.Second }},
		{"BodyTimeout", func(o *Options) { o.BodyTimeout = 0 }},
		{"MaxIdlePerHost", func(o *Options) { o.MaxIdlePerHost = 0 }},
		{"MaxConnsPerHost", func(o *Options) { o.MaxConnsPerHost = -1 }},
		{"ShieldEjection.Backoff", func(o *Options) { o.ShieldEjection.Backoff = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			o := valid()
			tt.bad(&o)
			wantFieldError(t, o.Validate(), tt.path)
		})
	}
}

// TestPoolOptionsValidate is TestOptionsValidate for PoolOptions.
func TestPoolOptionsValidate(t *testing.T) {
	valid := func() PoolOptions {
		o := DefaultPoolOptions()
		o.Name, o.Servers = "api", []Server{{URL: "http://a", Weight: 1}, {URL: "http://b", Weight: 1}}
		return o
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid options: %v", err)
	}
	tests := []struct {
		path string
		bad  func(*PoolOptions)
	}{
		{"Name", func(o *PoolOptions) { o.Name = "" }},
		{"Servers", func(o *PoolOptions) { o.Servers = nil }},
		{"Servers[1].URL", func(o *PoolOptions) { o.Servers[1].URL = "http:///x" }},
		{"Servers[1].URL", func(o *PoolOptions) { o.Servers[1].URL = "http://A/" }},
		{"Servers[0].Weight", func(o *PoolOptions) { o.Servers[0].Weight = 0 }},
		{"Algorithm", func(o *PoolOptions) { o.Algorithm = "" }},
		{"Retries", func(o *PoolOptions) { o.Retries = -1 }},
		{"RetryTimeout", func(o *PoolOptions) { o.RetryTimeout = -1 }},
		{"ConnectTimeout", func(o *PoolOptions) { o.ConnectTimeout = 0 }},
		{"MaxConnsPerHost", func(o *PoolOptions) { o.MaxConnsPerHost = -1 }},
		{"Health.Path", func(o *PoolOptions) { o.Health.Path = "h" }},
		{"Health.Interval", func(o *PoolOptions) { o.Health.Interval = 0 }},
		{"Health.Timeout", func(o *PoolOptions) { o.Health.Timeout = -1 }},
		{"Health.Expect", func(o *PoolOptions) { o.Health.Expect = 600 }},
		{"Health.Rise", func(o *PoolOptions) { o.Health.Rise = 0 }},
		{"Health.Fall", func(o *PoolOptions) { o.Health.Fall = 0 }},
		{"Health.Host", func(o *PoolOptions) { o.Health.Host = "a/b" }},
		{"Ejection.Failures", func(o *PoolOptions) { o.Ejection.Failures = 0 }},
		{"Ejection.Failures", func(o *PoolOptions) { o.Ejection.Failures, o.Ejection.Disabled = -1, true }},
		{"Ejection.Backoff", func(o *PoolOptions) { o.Ejection.Backoff = 0 }},
		{"Ejection.MaxBackoff", func(o *PoolOptions) { o.Ejection.MaxBackoff = time.Second }},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			o := valid()
			tt.bad(&o)
			wantFieldError(t, o.Validate(), tt.path)
		})
	}
	t.Run("disabled ejection needs no failures", func(t *testing.T) {
		o := valid()
		o.Ejection.Failures, o.Ejection.Disabled = 0, true
		if err := o.Validate(); err != nil {
			t.Fatal(err)
		}
	})
}
