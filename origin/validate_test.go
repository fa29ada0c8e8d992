package origin

import (
	"strings"
	"testing"
	"time"

	"edged/internal/fielderr/fieldtest"
)

func TestOptionsValidate(t *testing.T) {
	fieldtest.Run(t, func() Options {
		o := DefaultOptions()
		o.Origin, o.Via = "http://o", "edged"
		return o
	}, []fieldtest.Case[Options]{
		{Path: "Origin", Bad: func(o *Options) { o.Origin = "ftp://o" }},
		{Path: "Pool", Bad: func(o *Options) { o.Pool = &Pool{} }},
		{Path: "ShieldFallback", Bad: func(o *Options) { o.Origin, o.Shields, o.ShieldFallback = "", []string{"http://s"}, true }},
		{Path: "Shields[1]", Bad: func(o *Options) { o.Shields = []string{"http://s", "http://s"} }},
		{Path: "Via", Bad: func(o *Options) { o.Via = "a b" }},
		{Path: "ConnectTimeout", Bad: func(o *Options) { o.ConnectTimeout = 0 }},
		{Path: "HeaderTimeout", Bad: func(o *Options) { o.HeaderTimeout = -time.Second }},
		{Path: "BodyTimeout", Bad: func(o *Options) { o.BodyTimeout = 0 }},
		{Path: "MaxIdlePerHost", Bad: func(o *Options) { o.MaxIdlePerHost = 0 }},
		{Path: "MaxConnsPerHost", Bad: func(o *Options) { o.MaxConnsPerHost = -1 }},
		{Path: "ShieldEjection.Backoff", Bad: func(o *Options) { o.ShieldEjection.Backoff = 0 }},
	})
}

func TestPoolOptionsValidate(t *testing.T) {
	valid := func() PoolOptions {
		o := DefaultPoolOptions()
		o.Name, o.Servers = "api", []Server{{URL: "http://a", Weight: 1}, {URL: "http://b", Weight: 1}}
		return o
	}
	fieldtest.Run(t, valid, []fieldtest.Case[PoolOptions]{
		{Path: "Name", Bad: func(o *PoolOptions) { o.Name = "" }},
		{Path: "Servers", Bad: func(o *PoolOptions) { o.Servers = nil }},
		{Path: "Servers[1].URL", Bad: func(o *PoolOptions) { o.Servers[1].URL = "http:///x" }},
		{Path: "Servers[1].URL", Bad: func(o *PoolOptions) { o.Servers[1].URL = "http://A/" }},
		{Path: "Servers[0].Weight", Bad: func(o *PoolOptions) { o.Servers[0].Weight = 0 }},
		{Path: "Algorithm", Bad: func(o *PoolOptions) { o.Algorithm = "" }},
		{Path: "Retries", Bad: func(o *PoolOptions) { o.Retries = -1 }},
		{Path: "RetryTimeout", Bad: func(o *PoolOptions) { o.RetryTimeout = -1 }},
		{Path: "ConnectTimeout", Bad: func(o *PoolOptions) { o.ConnectTimeout = 0 }},
		{Path: "MaxConnsPerHost", Bad: func(o *PoolOptions) { o.MaxConnsPerHost = -1 }},
		{Path: "Health.Path", Bad: func(o *PoolOptions) { o.Health.Path = "h" }},
		{Path: "Health.Interval", Bad: func(o *PoolOptions) { o.Health.Interval = 0 }},
		{Path: "Health.Timeout", Bad: func(o *PoolOptions) { o.Health.Timeout = -1 }},
		{Path: "Health.Expect", Bad: func(o *PoolOptions) { o.Health.Expect = 600 }},
		{Path: "Health.Rise", Bad: func(o *PoolOptions) { o.Health.Rise = 0 }},
		{Path: "Health.Fall", Bad: func(o *PoolOptions) { o.Health.Fall = 0 }},
		{Path: "Health.Host", Bad: func(o *PoolOptions) { o.Health.Host = "a/b" }},
		{Path: "Ejection.Failures", Bad: func(o *PoolOptions) { o.Ejection.Failures = 0 }},
		{Path: "Ejection.Failures", Bad: func(o *PoolOptions) { o.Ejection.Failures, o.Ejection.Disabled = -1, true }},
		{Path: "Ejection.Backoff", Bad: func(o *PoolOptions) { o.Ejection.Backoff = 0 }},
		{Path: "Ejection.MaxBackoff", Bad: func(o *PoolOptions) { o.Ejection.MaxBackoff = time.Second }},
	})
	// A negative count names the switch that turns retries off, as the
	// other "0 is a default" options do (Ejection.Disabled).
	o := valid()
	o.Retries = -1
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "NoRetries turns retries off") {
		t.Errorf("Retries -1: %v, want the NoRetries hint", err)
	}
	// Turned off, ejection needs no count.
	o = valid()
	o.Ejection.Failures, o.Ejection.Disabled = 0, true
	if err := o.Validate(); err != nil {
		t.Errorf("disabled ejection without failures: %v", err)
	}
}
