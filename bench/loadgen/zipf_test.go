package loadgen

import "testing"

func TestZipf(t *testing.T) {
	const n, draws = 1000, 100000
	z := NewZipf(1, 1.1, n)
	counts := make([]int, n)
	for range draws {
		k := z.Next()
		if k < 0 || k >= n {
			t.Fatalf("rank %d out of [0,%d)", k, n)
		}
		counts[k]++
	}
	// Zipf: rank 0 is the hottest, and far hotter than rank 99.
	for k := 1; k < n; k++ {
		if counts[k] > counts[0] {
			t.Fatalf("rank %d drawn %d times, more than rank 0 (%d)", k, counts[k], counts[0])
		}
	}
	if counts[0] < 10*counts[99] {
		t.Errorf("rank 0: %d, rank 99: %d; want a ratio near 100^1.1 ≈ 158", counts[0], counts[99])
	}
	// The top 10% of keys take most of the traffic, yet the tail is drawn.
	top := 0
	for _, c := range counts[:n/10] {
		top += c
	}
	if top < draws/2 || top == draws {
		t.Errorf("top 10%% of keys drew %d of %d", top, draws)
	}
	// Deterministic for a seed.
	a, b := NewZipf(7, 1.1, n), NewZipf(7, 1.1, n)
	for i := range 100 {
		if x, y := a.Next(), b.Next(); x != y {
			t.Fatalf("draw %d: %d != %d for the same seed", i, x, y)
		}
	}
}
