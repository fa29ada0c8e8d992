package storage

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchSizes are the body sizes every storage benchmark runs at.
var benchSizes = []struct {
	name string
	n    int
}{{"1KiB", 1 << 10}, {"100KiB", 100 << 10}, {"1MiB", 1 << 20}}

// benchEachSize runs fn as a sub-benchmark per body size with an entry of
// that size, reporting allocations and bytes per operation.
func benchEachSize(b *testing.B, fn func(b *testing.B, e *Entry)) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			e := newEntry("http://bench.example/objects/"+size.name, size.n)
			b.ReportAllocs()
			b.SetBytes(int64(size.n))
			fn(b, e)
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	benchEachSize(b, func(b *testing.B, e *Entry) {
		for b.Loop() {
			Encode(e)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	benchEachSize(b, func(b *testing.B, e *Entry) {
		enc := Encode(e)
		for b.Loop() {
			if _, err := Decode(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkGetMemory(b *testing.B) {
	benchEachSize(b, func(b *testing.B, e *Entry) {
		s := openStore(b, Options{MemoryBytes: 64 << 20})
		s.Set(e)
		s.Flush()
		mustGet(b, s, e.Key, TierMemory)
		for b.Loop() {
			if _, _, err := s.Get(e.Key); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkGetDisk(b *testing.B) {
	benchEachSize(b, func(b *testing.B, e *Entry) {
		s := openStore(b, Options{NoMemoryTier: true})
		s.Set(e)
		s.Flush()
		for b.Loop() {
			if _, tier, err := s.Get(e.Key); err != nil || tier != TierDisk {
				b.Fatal(tier, err)
			}
		}
	})
}

// BenchmarkGetDiskParallel is disk hits from concurrent goroutines, as many
// client connections make them: the LRU touches they queue keep the disk
// writer busy unless they are batched.
func BenchmarkGetDiskParallel(b *testing.B) {
	benchEachSize(b, func(b *testing.B, e *Entry) {
		s := openStore(b, Options{NoMemoryTier: true})
		s.Set(e)
		s.Flush()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, tier, err := s.Get(e.Key); err != nil || tier != TierDisk {
					b.Error(tier, err)
					return
				}
			}
		})
	})
}

// BenchmarkPurgeTag purges one tag carried by n disk entries (each also
// carries a tag of its own); the fill is not timed.
func BenchmarkPurgeTag(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		for _, soft := range []bool{false, true} {
			b.Run(fmt.Sprintf("n=%d/soft=%v", n, soft), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					b.StopTimer()
					s := openStore(b, Options{NoMemoryTier: true})
					fillDisk(b, s, n, "big")
					b.StartTimer()
					if got, err := s.Purge(Purge{Tags: []string{"big"}, Soft: soft}); got != n || err != nil {
						b.Fatalf("Purge = %d, %v; want %d", got, err, n)
					}
					b.StopTimer()
					if err := s.Close(); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
			})
		}
	}
}

// BenchmarkPurgeKey purges one URL (and its variants) while the memory tier
// holds n entries (see also BenchmarkPurgeKeyWithResidentEntries).
func BenchmarkPurgeKey(b *testing.B) {
	for _, n := range []int{0, 50_000} {
		b.Run(fmt.Sprintf("memory=%d", n), func(b *testing.B) {
			s := openStore(b, Options{MemoryBytes: 512 << 20, WriteQueue: n + 1})
			for i := range n {
				s.Set(tagged(fmt.Sprintf("http://h/%d", i), "t"))
			}
			s.Flush()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := s.Purge(Purge{Keys: []string{fmt.Sprintf("http://h/%d", i%max(n, 1))}, Seq: uint64(i + 1)}); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkPurgeKeyWithResidentEntries purges one URL (and its variants)
// while the memory tier holds n entries (each with a tag of its own and a
// shared one): with the memory index the cost no longer grows with n. The
// disk tier holds the same entries; the fill is not timed.
func BenchmarkPurgeKeyWithResidentEntries(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			s := openStore(b, Options{MemoryBytes: 512 << 20, WriteQueue: n + 1})
			for i := range n {
				s.Set(tagged(fmt.Sprintf("http://h/%d", i), "all", fmt.Sprintf("t%d", i)))
			}
			s.Flush()
			if got := s.Stats().MemoryEntries; got < int64(n)*9/10 {
				b.Fatalf("%d entries in memory, want about %d", got, n)
			}
			i := 0
			b.Run("Purge", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := s.Purge(Purge{Keys: []string{fmt.Sprintf("http://h/%d", i%n)}, Seq: uint64(i + 1)}); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
			// The memory tier's share alone (Purge adds the bbolt commit).
			b.Run("memory", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					s.mem.purge(newMatcher(Purge{Keys: []string{fmt.Sprintf("http://h/%d", i%n)}}), false)
					i++
				}
			})
		})
	}
}

// BenchmarkTouchBatch is the writer's once-a-second commit of the LRU
// touches of disk hits: 1000 keys of 8192 stored, drawn by a Zipf law as a
// CDN's disk hits are, per operation.
func BenchmarkTouchBatch(b *testing.B) {
	s := openStore(b, Options{NoMemoryTier: true})
	const n = 8192
	key := func(i uint64) string { return fmt.Sprintf("http://h/touch/%d", i) }
	for i := range uint64(n) {
		s.Set(newEntry(key(i), 1000))
		if i%256 == 255 {
			s.Flush()
		}
	}
	s.Flush()
	z := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.1, 1, n-1)
	keys := make([]string, 1000)
	b.ReportAllocs()
	for b.Loop() {
		for i := range keys {
			keys[i] = key(z.Uint64())
		}
		s.w.writeBatch(keys, nil)
	}
}

// BenchmarkPurgedSince asks whether any of the last n invalidations (the
// ring full of them: purgeHistory) may cover an object none of them
// covers, the longest walk PurgedSince makes: the edge asks it under its
// flights' lock (edge/flight.go join) for a flight older than a purge. The
// invalidations are purges of other URLs (one key each) or of other hosts
// (the four prefixes of a host purge).
func BenchmarkPurgedSince(b *testing.B) {
	for _, kind := range []string{"keys", "hosts"} {
		for _, n := range []int{16, purgeHistory} {
			b.Run(fmt.Sprintf("%s/since=%d", kind, n), func(b *testing.B) {
				s := openStore(b, Options{})
				for i := range purgeHistory {
					p := Purge{Keys: []string{fmt.Sprintf("http://h/other/%d", i)}}
					if kind == "hosts" {
						h := fmt.Sprintf("h%d.example", i)
						p = Purge{Prefixes: []string{"http://" + h + "/", "http://" + h + ":", "https://" + h + "/", "https://" + h + ":"}}
					}
					s.purges.record(newMatcher(p)) // the ring as purges leave it, without their disk work
				}
				since := s.Generation() - uint64(n)
				const key = "http://h/hot\x00User-Agent:+1:x\n"
				b.ReportAllocs()
				for b.Loop() {
					if s.PurgedSince(key, since) {
						b.Fatal("PurgedSince = true for purges of other URLs")
					}
				}
			})
		}
	}
}
