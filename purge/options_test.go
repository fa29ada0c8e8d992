package purge

import (
	"testing"
	"time"

	"edged/internal/fielderr/fieldtest"
)

func TestOptionsValidate(t *testing.T) {
	fieldtest.Run(t, func() Options {
		o := DefaultOptions()
		o.Invalidator, o.StoreDir = &memInvalidator{}, "nats"
		return o
	}, []fieldtest.Case[Options]{
		{Path: "Invalidator", Bad: func(o *Options) { o.Invalidator = nil }},
		{Path: "StoreDir", Bad: func(o *Options) { o.StoreDir = "" }},
		{Path: "NATSListen", Bad: func(o *Options) { o.NATSURL, o.NATSListen = "nats://n:4222", ":4222" }},
		{Path: "NATSListen", Bad: func(o *Options) { o.NATSListen = ":4222" }},
		{Path: "Subject", Bad: func(o *Options) { o.Subject = "" }},
		{Path: "Stream", Bad: func(o *Options) { o.Stream = "" }},
		{Path: "Replicas", Bad: func(o *Options) { o.Replicas = 0 }},
		{Path: "Retention", Bad: func(o *Options) { o.Retention = -time.Hour }},
		{Path: "ApplyTimeout", Bad: func(o *Options) { o.ApplyTimeout = 0 }},
		{Path: "MaxLag", Bad: func(o *Options) { o.MaxLag = -time.Second }},
	})
}
