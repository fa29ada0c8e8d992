package storage

import (
	"testing"
)

// benchSizes are the body sizes every storage benchmark runs at.
var benchSizes = []struct {
	name string
	n    int
}{{"1KiB", 1 << 10}, {"100KiB", 100 << 10}, {"1MiB", 1 << 20}}

// benchEachSize runs fn as a sub-benchmark per body size with an entry of
// that size, reporting allocations and bytes per operation.
func benchEachSize(b *testing.B, fn func(b *testing.B, e *Entry)) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			e := newEntry("http://bench.example/objects/"+size.name, size.n)
			b.ReportAllocs()
			b.SetBytes(int64(size.n))
			fn(b, e)
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	benchEachSize(b, func(b *testing.B, e *Entry) {
		for b.Loop() {
			Encode(e)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	benchEachSize(b, func(b *testing.B, e *Entry) {
		enc := Encode(e)
		for b.Loop() {
			if _, err := Decode(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkGetMemory(b *testing.B) {
	benchEachSize(b, func(b *testing.B, e *Entry) {
		s := openStore(b, Options{MemoryBytes: 64 << 20})
		s.Set(e)
		s.Flush()
		mustGet(b, s, e.Key, TierMemory)
		for b.Loop() {
			if _, _, err := s.Get(e.Key); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkGetDisk(b *testing.B) {
	benchEachSize(b, func(b *testing.B, e *Entry) {
		s := openStore(b, Options{MemoryBytes: -1})
		s.Set(e)
		s.Flush()
		for b.Loop() {
			if _, tier, err := s.Get(e.Key); err != nil || tier != TierDisk {
				b.Fatal(tier, err)
			}
		}
	})
}
