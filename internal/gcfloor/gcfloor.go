// Package gcfloor keeps the garbage collector's heap goal from falling
// below a floor the process may spend anyway.
//
// The runtime collects when the heap reaches twice its live data (GOGC
// 100). A cache node whose memory tier is still nearly empty, or holds few
// objects, has a live heap of a few MB while its operator gave it hundreds:
// it then collects every few thousand requests, and the requests that meet
// a collection's mark phase wait for it (the tail of the latency
// distribution). A node whose tier is full has a live heap far above the
// floor and collects as before. The soft memory limit (debug.SetMemoryLimit)
// bounds the heap from above; this package only raises the goal from
// below, by setting GOGC after each collection so that the next goal is
// at least the floor:
//
//	goal ≈ max(live × 2, floor)
//
// # Contract
//
//   - Start does nothing (and Stop restores nothing) when GOGC is set in the
//     environment: the operator's choice stands.
//   - After every collection the GC percent is set to the least of at least
//     100 that puts the next goal at the floor or above, from the live heap
//     that collection found (runtime/metrics "/gc/heap/live:bytes").
//   - Stop restores the GC percent found at Start and stops adjusting; a
//     collection already being handled may still set it once more before
//     Stop returns, never after.
//   - One Floor per process at a time: two would take turns setting the
//     one runtime setting.
package gcfloor

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// minHeap is the runtime's heap goal before its first collection, at
// GOGC 100.
const minHeap = 4 << 20

// maxPercent bounds the GC percent, so a live heap of a few KB after a
// collection (a test process) does not make the next goal absurd if the
// floor changes.
const maxPercent = 100_000

// Floor adjusts the GC percent after each collection; see the package
// contract.
type Floor struct {
	floor   uint64
	mu      sync.Mutex
	stopped bool
	before  int // the GC percent at Start
	// adjusted, when set (tests), receives the percent after each
	// adjustment without blocking.
	adjusted chan int
}

// Start keeps the heap goal at floor bytes or more until Stop. It returns
// nil, which Stop accepts, when GOGC is set or floor is 0.
func Start(floor uint64) *Floor { return start(floor, nil) }

func start(floor uint64, adjusted chan int) *Floor {
	if floor == 0 || os.Getenv("GOGC") != "" {
		return nil
	}
	f := &Floor{floor: floor, adjusted: adjusted}
	f.mu.Lock()
	defer f.mu.Unlock()
	// Before the first collection there is no live heap to measure: the
	// goal is minHeap at 100.
	f.before = debug.SetGCPercent(percentFor(floor, minHeap))
	f.arm()
	return f
}

// Stop restores the GC percent Start found.
func (f *Floor) Stop() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.stopped {
		f.stopped = true
		debug.SetGCPercent(f.before)
	}
}

// arm attaches the next adjustment to an object the next collection
// frees. A cleanup runs once, after the cycle that found its object
// unreachable, so each run arms the next.
func (f *Floor) arm() {
	sentinel := new([32]byte) // above the tiny allocator's 16 bytes, so it is freed alone
	runtime.AddCleanup(sentinel, func(f *Floor) { f.afterCollection() }, f)
}

func (f *Floor) afterCollection() {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	var live uint64
	if sample[0].Value.Kind() == metrics.KindUint64 {
		live = sample[0].Value.Uint64()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return
	}
	percent := percentFor(f.floor, live)
	debug.SetGCPercent(percent)
	f.arm()
	if f.adjusted != nil {
		select {
		case f.adjusted <- percent:
		default:
		}
	}
}

// percentFor is the least GC percent of at least 100 whose goal for a live
// heap of live bytes, live × (1 + percent/100), reaches floor.
func percentFor(floor, live uint64) int {
	if live == 0 {
		live = 1
	}
	if live*2 >= floor {
		return 100
	}
	p := (floor - live) * 100 / live
	if (floor-live)*100%live != 0 {
		p++
	}
	return int(min(p, maxPercent))
}
