// Package benchcpu measures a benchmark's CPU per operation as the whole
// process's user and system time (getrusage(2)), so that what other
// goroutines do for an operation counts with it: a disk writer's commits
// and fdatasyncs, the servers of a loopback exchange. Benchmarks report it
// beside ns/op, which on a shared machine says more about the load than
// about the code (#17).
package benchcpu

import (
	"syscall"
	"testing"
	"time"
)

// Start returns report, which reports the process CPU spent since Start
// divided by ops as b's metric "cpu-µs/op".
func Start(b *testing.B) (report func(ops int)) {
	b.Helper()
	start := used(b)
	return func(ops int) {
		if ops > 0 {
			b.ReportMetric(float64((used(b)-start).Microseconds())/float64(ops), "cpu-µs/op")
		}
	}
}

// used is the process's user and system time so far.
func used(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
