package gcfloor

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercentFor(t *testing.T) {
	for _, tc := range []struct {
		floor, live uint64
		want        int
	}{
		{32 << 20, 4 << 20, 700},
		{32 << 20, 16 << 20, 100},  // twice the live heap reaches the floor
		{32 << 20, 100 << 20, 100}, // above the floor: the runtime's default
		{32 << 20, 3 << 20, 967},   // rounded up: the goal reaches the floor
		{32 << 20, 0, maxPercent},  // no measurement: bounded
		{100, 1, 9900},
		{1 << 40, 1, maxPercent},
	} {
		got := percentFor(tc.floor, tc.live)
		if got != tc.want {
			t.Errorf("percentFor(%d, %d) = %d, want %d", tc.floor, tc.live, got, tc.want)
		}
		if live := max(tc.live, 1); got < maxPercent && live+live*uint64(got)/100 < tc.floor {
			t.Errorf("percentFor(%d, %d) = %d: goal %d is under the floor", tc.floor, tc.live, got, live+live*uint64(got)/100)
		}
	}
}

// heapGoal is the runtime's current heap goal.
func heapGoal() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// collect runs collections until f reports an adjustment (a cleanup runs
// on its own goroutine after the cycle that freed its object).
func collect(t *testing.T, f *Floor) int {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		runtime.GC()
		select {
		case p := <-f.adjusted:
			return p
		case <-deadline:
			t.Fatal("no adjustment after collections for 30 s")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestFloorRaisesAndRestoresTheGoal(t *testing.T) {
	if os.Getenv("GOGC") != "" {
		t.Skip("GOGC is set: Start leaves it alone")
	}
	const floor = 64 << 20
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	runtime.GC()
	if g := heapGoal(); g >= floor {
		t.Fatalf("the heap goal without a floor is %d, at the floor already: the test shows nothing", g)
	}
	f := start(floor, make(chan int, 1))
	collect(t, f)
	if g := heapGoal(); g < floor {
		t.Errorf("heap goal %d with a floor of %d", g, floor)
	}
	// A live heap above half the floor: the runtime's own 100.
	live := make([]byte, 48<<20)
	for i := range live {
		live[i] = 1
	}
	if p := collect(t, f); p != 100 {
		t.Errorf("percent %d with a live heap of %d MiB over a floor of %d MiB, want 100", p, len(live)>>20, floor>>20)
	}
	runtime.KeepAlive(live)
	f.Stop()
	if p := debug.SetGCPercent(100); p != 100 {
		t.Errorf("after Stop the GC percent is %d, want the 100 found at Start", p)
	}
	runtime.GC()
	runtime.GC()
	if p := debug.SetGCPercent(100); p != 100 {
		t.Errorf("a collection after Stop set the GC percent to %d", p)
	}
}

func TestFloorLeavesGOGCAlone(t *testing.T) {
	t.Setenv("GOGC", "100")
	if f := Start(64 << 20); f != nil {
		f.Stop()
		t.Fatal("Start adjusted the GC percent while GOGC is set")
	}
	var f *Floor
	f.Stop() // accepted
}
