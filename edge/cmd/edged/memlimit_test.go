package main

import (
	"fmt"
	"math"
	"os"
	"testing"
)

func TestGCFloor(t *testing.T) {
	t.Setenv("GOGC", "")
	for _, tc := range []struct {
		limit int64
		want  uint64
	}{
		{64 << 20, 8 << 20},
		{256 << 20, 32 << 20},
		{4 << 30, maxGCFloor}, // bounded: past it little to gain
		{math.MaxInt64, 0},    // GOMEMLIMIT unset and no limit: no floor
		{0, 0},
	} {
		if got := gcFloor(tc.limit); got != tc.want {
			t.Errorf("gcFloor(%d) = %d, want %d", tc.limit, got, tc.want)
		}
	}
	t.Setenv("GOGC", "200")
	if got := gcFloor(256 << 20); got != 0 {
		t.Errorf("gcFloor with GOGC set = %d, want 0 (the operator's GOGC stands)", got)
	}
}

// TestNodeKeepsGCFloor: the binary starts the floor (internal/gcfloor): with
// cache.memory 256MiB and a live heap of a few MB, the GC percent it runs
// at is above the runtime's 100 (the floor of 32 MiB over a heap of 4 MiB
// or so); without the floor wired in, it is 100.
func TestNodeKeepsGCFloor(t *testing.T) {
	if os.Getenv("GOGC") != "" {
		t.Skip("GOGC is set: the node leaves it alone (TestGCFloor)")
	}
	origin := sizedOrigin(t, 1<<10)
	cfg := writeFile(t, "edged.yaml", fmt.Sprintf(`
listen: 127.0.0.1:0
admin: 127.0.0.1:0
data: %s
upstream: {origin: %s}
cache: {memory: 256MiB}
`, t.TempDir(), origin.URL))
	p := runEdged(t, "-config", cfg)
	if p.public == "" {
		t.Fatalf("edged exited at start (%v)", p.exitErr)
	}
	if got := metricValue(t, p.admin, "go_gc_gogc_percent"); got <= 100 {
		t.Errorf("go_gc_gogc_percent = %v, want above 100: the floor keeps the goal at 32 MiB", got)
	}
}
