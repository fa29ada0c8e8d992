package storage

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// processCPU is the process's user and system time so far.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

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
			cpu0 := processCPU(b)
			for b.Loop() {
				i++
				s.Set(newEntry(fmt.Sprintf("http://bench.example/obj/1024/miss-%d", i), 1<<10))
				if i%batch == 0 {
					s.Flush()
				}
			}
			s.Flush()
			b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(i), "cpu-µs/op")
		})
	}
}
