package main

import (
	"math"
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
