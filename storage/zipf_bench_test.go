//go:build unix

package storage

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkGetZipf is the benchmark's Zipf scenario at the store: 8192
// keys of 16 KiB drawn with s=1.1, a memory tier of a quarter of them
// (32 MiB), everything on disk. Reports the share of Gets the disk
// answered and cpu-ns/op, the whole process's CPU per Get: a disk hit's
// cost is also on other goroutines (ristretto's, which admits or rejects
// the promotion, and the writer's, which commits the LRU touches), which
// ns/op does not see. On the 2-core VM of the benchmarks a disk hit cost
// some 45 µs of CPU against 0.3 µs for a memory hit: a tenth of the Gets
// from disk were nine tenths of the CPU.
func BenchmarkGetZipf(b *testing.B) {
	const keys, size = 8192, 16 << 10
	s := openStore(b, Options{MemoryBytes: 32 << 20})
	names := make([]string, keys)
	for i := range names {
		names[i] = fmt.Sprintf("http://bench.example/obj/16384/z%d", i)
		e := newEntry(names[i], size)
		e.Tags = nil
		e.Header.Del("Set-Cookie")
		s.Set(e)
		if i%256 == 255 {
			s.Flush()
		}
	}
	s.Flush()
	z := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.1, 1, keys-1)
	// Warm the memory tier as a run before the measured one does.
	for range 200_000 {
		if _, _, err := s.Get(names[z.Uint64()]); err != nil {
			b.Fatal(err)
		}
	}
	s.Flush() // the warm-up's touches
	b.ReportAllocs()
	disk := 0
	cpu0 := cpuTime(b)
	for b.Loop() {
		_, tier, err := s.Get(names[z.Uint64()])
		if err != nil {
			b.Fatal(err)
		}
		if tier == TierDisk {
			disk++
		}
	}
	s.Flush() // the LRU touches of the measured Gets are their cost too
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(100*float64(disk)/float64(b.N), "%disk")
}
