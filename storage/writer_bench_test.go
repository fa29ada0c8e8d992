package storage

import (
	"fmt"
	"testing"

	"edged/internal/benchcpu"
)

// BenchmarkSetDisk is the disk writer's cost per 1 KiB miss: Sets of keys
// never stored before, landed by a Flush every batch Sets, so that each
// batch is one transaction (as the writer's linger gathers misses that
// arrive one at a time). cpu-µs/op is the process's CPU per Set, the
// writer's commits and fdatasyncs included; ns/op is wall time.
func BenchmarkSetDisk(b *testing.B) {
	for _, batch := range []int{1, 8, 32, 128} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s := openStore(b, Options{})
			b.ReportAllocs()
			b.SetBytes(1 << 10)
			i := 0
			report := benchcpu.Start(b)
			for b.Loop() {
				i++
				s.Set(newEntry(fmt.Sprintf("http://bench.example/obj/1024/miss-%d", i), 1<<10))
				if i%batch == 0 {
					s.Flush()
				}
			}
			s.Flush()
			report(i)
		})
	}
}
