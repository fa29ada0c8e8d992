package loadgen

import "math/rand/v2"

// Zipf draws key ranks 0..n-1 where rank k has probability proportional
// to 1/(k+1)^s: a few hot objects and a long tail, like a CDN's traffic.
// It is deterministic for a seed and not safe for concurrent use.
type Zipf struct{ z *rand.Zipf }

// NewZipf returns ranks in [0, n) with exponent s (> 1).
func NewZipf(seed uint64, s float64, n int) *Zipf {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return &Zipf{z: rand.NewZipf(r, s, 1, uint64(n-1))}
}

// Next returns the next rank.
func (z *Zipf) Next() int { return int(z.z.Uint64()) }
