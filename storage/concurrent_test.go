package storage

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

// Each writer owns its keys and checks read-your-writes and purge finality
// on them, while readers Get every key (promoting disk hits to memory, the
// path that could resurrect a purged entry) and others flush and purge an
// unrelated prefix.
func TestConcurrentGetSetDelete(t *testing.T) {
	for _, mem := range []int64{0, -1} {
		t.Run(fmt.Sprintf("MemoryBytes=%d", mem), func(t *testing.T) {
			s := openStore(t, Options{NoMemoryTier: mem < 0, WriteQueue: 1 << 14})
			const writers, keysPer, rounds = 4, 4, 60
			key := func(w, k int) string { return fmt.Sprintf("http://h/w%d/k%d", w, k) }
			var stop atomic.Bool
			var bg sync.WaitGroup
			for range 2 {
				bg.Go(func() {
					for !stop.Load() {
						if _, _, err := s.Get(key(rand.IntN(writers), rand.IntN(keysPer))); err != nil && !errors.Is(err, ErrNotFound) {
							t.Errorf("reader Get: %v", err)
							return
						}
					}
				})
			}
			bg.Go(func() {
				for i := 0; !stop.Load(); i++ {
					s.Set(newEntry(fmt.Sprintf("http://other/%d", i%50), 50))
					if i%20 == 0 {
						s.Flush()
						if _, err := s.DeletePrefix("http://other/1"); err != nil {
							t.Errorf("DeletePrefix: %v", err)
						}
					}
				}
			})
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for r := range rounds {
						k := key(w, r%keysPer)
						e := newEntry(k, r)
						s.Set(e)
						// The entry itself, or its disk copy once the write
						// landed (bodies of each round differ in length).
						if got, _, err := s.Get(k); err != nil || len(got.Body) != len(e.Body) {
							t.Errorf("Get(%q) after Set = %v, %v; want the entry set", k, got, err)
							return
						}
						if r%3 == 0 {
							s.Flush() // let it land, so that readers promote it from disk
						}
						if err := s.Delete(k); err != nil {
							t.Errorf("Delete: %v", err)
							return
						}
						if got, tier, err := s.Get(k); !errors.Is(err, ErrNotFound) {
							t.Errorf("Get(%q) after Delete = %v from %v, %v; want ErrNotFound", k, got, tier, err)
							return
						}
					}
				})
			}
			wg.Wait()
			stop.Store(true)
			bg.Wait()
		})
	}
}

// A Get that read the disk before a Delete or a Set must not promote what it
// read once they have returned. The Get is replayed step by step.
func TestLatePromotionIsRefused(t *testing.T) {
	tests := []struct {
		name  string
		after func(s *Store, key string) // runs between the disk read and the promotion
		want  *Entry                     // what Get must return afterwards; nil: ErrNotFound
	}{
		{"delete", func(s *Store, key string) { s.Delete(key) }, nil},
		{"delete prefix", func(s *Store, key string) { s.DeletePrefix(key[:len(key)-1]) }, nil},
		{"set", func(s *Store, key string) { s.Set(newEntry(key, 7)) }, newEntry("http://h/late", 7)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const key = "http://h/late"
			s := openStore(t, Options{})
			s.Set(newEntry(key, 3))
			s.Flush()
			s.mem.del([]string{key})
			s.mem.wait()

			ticket := s.mem.ticket(key)
			old, _, err := s.disk.get(key, nil)
			if err != nil {
				t.Fatal(err)
			}
			tc.after(s, key)
			s.mem.promote(old, ticket)
			s.Flush()

			got, _, err := s.Get(key)
			if tc.want == nil {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("Get = %v, %v; want ErrNotFound", got, err)
				}
				return
			}
			if err != nil || len(got.Body) != len(tc.want.Body) {
				t.Fatalf("Get = %v, %v; want the newer entry", got, err)
			}
		})
	}
}
