package storage

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// checkHidden fails t unless Get returns each key stale (soft) or not at
// all.
func checkHidden(t *testing.T, s *Store, soft bool, when string, keys ...string) {
	t.Helper()
	for _, k := range keys {
		e, _, err := s.Get(k)
		if soft {
			if err != nil || !e.Stale {
				t.Fatalf("%s: Get(%q) = %v, %v; want a stale entry", when, k, e, err)
			}
			continue
		}
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s: Get(%q) = %v, %v; want ErrNotFound", when, k, e, err)
		}
	}
}

// Hide (a purge announced ahead of its ordered apply) takes effect on
// every tier at once, removes nothing from disk, keeps what it covers
// from being promoted or stored fresh by a fetch that began before it,
// and is undone by unhide (issue 18).
func TestHideUntilUnhide(t *testing.T) {
	for _, soft := range []bool{false, true} {
		t.Run(fmt.Sprintf("soft=%v", soft), func(t *testing.T) {
			dir := t.TempDir()
			const inMem, onDisk, other = "http://h/v/mem", "http://h/v/disk", "http://h/v/other"
			s := reopenedWith(t, dir, onDisk, other)
			s.Set(newEntry(inMem, 100))
			s.mem.wait()
			mustGet(t, s, inMem, TierMemory)
			const refill = "http://h/v/refill"
			since := s.Generation() // a fetch of refill begins before the hide

			unhide := s.Hide(Purge{Keys: []string{inMem, onDisk, refill}, Soft: soft, Seq: 9})
			check := func(when string) {
				t.Helper()
				checkHidden(t, s, soft, when, inMem, onDisk)
			}
			check("hidden")
			s.mem.wait()
			check("hidden, after a would-be promotion")
			mustGet(t, s, other, TierDisk) // what it does not cover is served
			if seq, _ := s.AppliedSeq(); seq != 0 {
				t.Fatalf("AppliedSeq = %d after a hide, want 0", seq)
			}
			s.SetFetchedAt(newEntry(refill, 10), since, time.Time{})
			s.mem.wait()
			if e, _, err := s.Get(refill); err != nil || !e.Stale {
				t.Fatalf("refill fetched across the hide: Get = %v, %v; want stale", e, err)
			}

			unhide()
			if e := mustGet(t, s, onDisk, TierDisk); e.Stale {
				t.Fatal("the disk entry is still stale after unhide: a hide must not touch the disk")
			}
		})
	}
}
