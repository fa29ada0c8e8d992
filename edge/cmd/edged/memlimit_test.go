package main

import (
	"math"
	"testing"
)

func TestGCFloor(t *testing.T) {
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
}
