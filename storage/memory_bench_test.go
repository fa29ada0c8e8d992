package storage

import (
	"fmt"
	"testing"

	"edged/internal/benchcpu"
)

// BenchmarkMemorySetNewKey is the memory tier's part of a miss: a Set of a
// key it has never held, without tags (as edgebench's misses), into a tier
// that indexes 100000 others (the index is a B-tree: a lookup is a walk of
// it, as deep as the tier is large). ristretto applies the Set on its own
// goroutine: cpu-µs/op counts it, ns/op only as far as it delays this one.
func BenchmarkMemorySetNewKey(b *testing.B) {
	m, err := newMemory(256 << 20)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(m.close)
	const resident = 100_000
	entries := make([]*Entry, resident)
	for i := range entries {
		entries[i] = untagged(fmt.Sprintf("http://bench.example/obj/1024/resident-%d", i))
		m.set(entries[i], func(*Entry) {})
	}
	m.wait()
	b.ReportAllocs()
	i := 0
	report := benchcpu.Start(b)
	for b.Loop() {
		i++
		m.set(untagged(fmt.Sprintf("http://bench.example/obj/1024/miss-%d", i)), func(*Entry) {})
	}
	m.wait() // ristretto's work for the Sets is part of their cost
	report(i)
}

// untagged is a small entry without tags: what is measured is the tier's
// bookkeeping, not the making of an entry.
func untagged(key string) *Entry {
	return &Entry{Key: key, Status: 200, Body: []byte("edged")}
}
