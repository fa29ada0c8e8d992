package storage

import (
	"testing"

	"edged/internal/fielderr/fieldtest"
)

func TestOptionsValidate(t *testing.T) {
	fieldtest.Run(t, func() Options {
		o := DefaultOptions()
		o.Dir = "data"
		return o
	}, []fieldtest.Case[Options]{
		{Path: "Dir", Bad: func(o *Options) { o.Dir = "" }},
		{Path: "MemoryBytes", Bad: func(o *Options) { o.MemoryBytes = -1 }},
		{Path: "MemoryBytes", Bad: func(o *Options) { o.MemoryBytes, o.NoMemoryTier = 0, true }},
		{Path: "DiskBytes", Bad: func(o *Options) { o.DiskBytes = 0 }},
		{Path: "WriteQueue", Bad: func(o *Options) { o.WriteQueue = -1 }},
		{Path: "WriteQueueBytes", Bad: func(o *Options) { o.WriteQueueBytes = 0 }},
	})
}
