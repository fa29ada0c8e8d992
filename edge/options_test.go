package edge

import (
	"testing"
	"time"

	"edged/internal/fielderr/fieldtest"
	"edged/origin"
	"edged/storage"
)

func TestOptionsValidate(t *testing.T) {
	valid := func() Options {
		o := DefaultOptions()
		o.Name, o.Store, o.Upstream = "edged", &storage.Store{}, &origin.Client{}
		return o
	}
	fieldtest.Run(t, valid, []fieldtest.Case[Options]{
		{Path: "Name", Bad: func(o *Options) { o.Name = "" }},
		{Path: "Name", Bad: func(o *Options) { o.Name = "a b" }},
		{Path: "Store", Bad: func(o *Options) { o.Store = nil }},
		{Path: "Upstream", Bad: func(o *Options) { o.Upstream = nil }},
		{Path: "MaxObjectBytes", Bad: func(o *Options) { o.MaxObjectBytes = 0 }},
		{Path: "BodyMemory", Bad: func(o *Options) { o.BodyMemory = -1 }},
		{Path: "WriteTimeout", Bad: func(o *Options) { o.WriteTimeout = -time.Second }},
		{Path: "MaxFillsPerClient", Bad: func(o *Options) { o.MaxFillsPerClient = 0 }},
		{Path: "MaxFillsPerClient", Bad: func(o *Options) { o.MaxFillsPerClient, o.NoFillLimit = -1, true }},
		{Path: "MaxUploadsPerClient", Bad: func(o *Options) { o.MaxUploadsPerClient = 0 }},
		{Path: "MaxBodyBytes", Bad: func(o *Options) { o.MaxBodyBytes = -1 }},
		{Path: "RequestBodyTimeout", Bad: func(o *Options) { o.RequestBodyTimeout = 0 }},
		{Path: "RequestBodyMinRate", Bad: func(o *Options) { o.RequestBodyMinRate = -1 }},
		{Path: "FetchTimeout", Bad: func(o *Options) { o.FetchTimeout = 0 }},
		{Path: "StripRequestHeaders[1]", Bad: func(o *Options) { o.StripRequestHeaders = []string{"X-A", "X B"} }},
		{Path: "Policy.MaxStale", Bad: func(o *Options) { o.Policy.MaxStale = -1 }},
	})
	// Lifted, the per-client bounds need no number.
	o := valid()
	o.MaxFillsPerClient, o.NoFillLimit, o.MaxUploadsPerClient, o.NoUploadLimit = 0, true, 0, true
	if err := o.Validate(); err != nil {
		t.Errorf("lifted bounds: %v", err)
	}
}
