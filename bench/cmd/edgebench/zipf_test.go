package main

import (
	"testing"

	"edged/edge/config"
)

// The Zipf scenario states edged's memory tier; cache.memory is what edged
// is given, and the tier is a share of it (edge/config). The tier must be
// the size the report names, so that the hot set is 4× it as the issue
// asks, not more.
func TestZipfCacheMemoryGivesTheStatedTier(t *testing.T) {
	for _, memMiB := range []int{8, 32} {
		size, err := config.ParseByteSize(zipfCacheMemory(memMiB))
		if err != nil {
			t.Fatal(err)
		}
		c := &config.Config{}
		c.Cache.Memory = size
		tier := c.StorageOptions().MemoryBytes
		want := int64(memMiB) << 20
		if tier < want || tier > want+want/100 {
			t.Errorf("cache.memory %s gives a memory tier of %d bytes, want %d MiB (within 1%%)", zipfCacheMemory(memMiB), tier, memMiB)
		}
	}
}
