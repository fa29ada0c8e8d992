package storage

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Writers purge their own entries by tag, prefix or key (hard or soft) while
// readers promote disk hits and a background goroutine runs unrelated and
// soft-all purges: after each purge the writer's entry is gone or stale.
func TestConcurrentPurges(t *testing.T) {
	for _, mem := range []int64{0, -1} {
		t.Run(fmt.Sprintf("MemoryBytes=%d", mem), func(t *testing.T) {
			s := openStore(t, Options{NoMemoryTier: mem < 0, WriteQueue: 1 << 14})
			const writers, rounds = 4, 40
			key := func(w, r int) string { return fmt.Sprintf("http://h/w%d/k%d", w, r%3) }
			var stop atomic.Bool
			var bg sync.WaitGroup
			bg.Go(func() {
				for i := 0; !stop.Load(); i++ {
					if _, _, err := s.Get(key(i%writers, i)); err != nil && !errors.Is(err, ErrNotFound) {
						t.Errorf("reader Get: %v", err)
						return
					}
				}
			})
			bg.Go(func() {
				for i := 0; !stop.Load(); i++ {
					s.Set(tagged(fmt.Sprintf("http://other/%d", i%20), "other"))
					p := Purge{Tags: []string{"other"}, Seq: uint64(i)}
					if i%10 == 0 {
						p = Purge{All: true, Soft: true}
					}
					if _, err := s.Purge(p); err != nil {
						t.Errorf("background Purge: %v", err)
						return
					}
				}
			})
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					tag := fmt.Sprintf("w%d", w)
					for r := range rounds {
						k := key(w, r)
						s.SetFetchedAt(tagged(k, tag), s.Generation(), time.Time{})
						if r%4 == 0 {
							s.Flush()
						}
						p := []Purge{{Tags: []string{tag}}, {Prefixes: []string{"http://h/" + tag + "/"}}, {Keys: []string{k}}}[r%3]
						p.Soft = r%2 == 1
						if _, err := s.Purge(p); err != nil {
							t.Errorf("Purge: %v", err)
							return
						}
						got, tier, err := s.Get(k)
						if p.Soft && (err != nil || !got.Stale) || !p.Soft && !errors.Is(err, ErrNotFound) {
							t.Errorf("Get(%q) after %+v = %v from %v, %v", k, p, got, tier, err)
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

// A fetch racing a purge of its object: whichever comes first, the object
// is never stored fresh once both are done.
func TestSetFetchedRacingPurge(t *testing.T) {
	s := openStore(t, Options{})
	for i := range 200 {
		k := fmt.Sprintf("http://h/race/%d", i)
		since := s.Generation()
		var wg sync.WaitGroup
		wg.Go(func() {
			if _, err := s.Purge(Purge{Tags: []string{"t"}}); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() { s.SetFetchedAt(tagged(k, "t"), since, time.Time{}) })
		wg.Wait()
		if got, _, err := s.Get(k); err == nil && !got.Stale {
			t.Fatalf("round %d: fetched entry stored fresh across a purge", i)
		}
	}
}
