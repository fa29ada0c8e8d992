// Package benchcpu measures a benchmark's CPU per operation as the whole
// process's user and system time (getrusage(2)), so that what other
// goroutines do for an operation counts with it: a disk writer's commits
// and fdatasyncs, the servers of a loopback exchange. Benchmarks report it
// beside ns/op, which on a shared machine says more about the load than
// about the code (#17).
//
// Beside it, "sched/op" counts the goroutines the Go scheduler set running
// per operation as runtime/metrics' /sched/latencies:seconds samples them
// (about one in eight): each hand-off from one goroutine to another, and
// each wakeup, counts. Unlike CPU time
// it hardly moves with the machine's load, so it shows a change that
// removes a hand-off even where cpu-µs/op is too noisy to.
package benchcpu

import (
	"runtime/metrics"
	"syscall"
	"testing"
	"time"
)

// Start returns report, which reports the process CPU spent since Start
// divided by ops as b's metric "cpu-µs/op", and the goroutines scheduled
// meanwhile per op as "sched/op".
func Start(b *testing.B) (report func(ops int)) {
	b.Helper()
	start, sched := used(b), scheduled()
	return func(ops int) {
		if ops > 0 {
			b.ReportMetric(float64((used(b)-start).Microseconds())/float64(ops), "cpu-µs/op")
			b.ReportMetric(float64(scheduled()-sched)/float64(ops), "sched/op")
		}
	}
}

// scheduledMetric counts every time a goroutine was set running: its
// histogram holds each one's wait to run.
const scheduledMetric = "/sched/latencies:seconds"

// scheduled is how many times goroutines were set running so far.
func scheduled() uint64 {
	s := []metrics.Sample{{Name: scheduledMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return 0
	}
	var n uint64
	for _, c := range s[0].Value.Float64Histogram().Counts {
		n += c
	}
	return n
}

// used is the process's user and system time so far.
func used(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
