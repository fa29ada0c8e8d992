package origin

import (
	"cmp"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// hashString is the stable (cross-process, cross-node) hash used for
// rendezvous scores: every edge node must rank shields the same way.
func hashString(s string) uint64 { return xxhash.Sum64String(s) }

// score is the rendezvous weight of server for key: a strong 64-bit mix of
// the two hashes (the splitmix64 finalizer), so each server's rank for a key
// is independent of the others'.
func score(keyHash, serverHash uint64) uint64 {
	x := keyHash ^ serverHash
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// rendezvous returns servers ordered by descending weight for key (highest
// random weight hashing): the first is the key's home, the rest are its
// failover order. Ties, which need a 64-bit collision, break by hash.
func rendezvous(key string, servers []*upstream) []*upstream {
	keyHash := hashString(key)
	order := slices.Clone(servers)
	slices.SortFunc(order, func(a, b *upstream) int {
		if c := cmp.Compare(score(keyHash, b.hash), score(keyHash, a.hash)); c != 0 {
			return c
		}
		return cmp.Compare(a.hash, b.hash)
	})
	return order
}
