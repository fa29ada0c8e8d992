package storage

import "testing"

// Entry.MustRevalidate is part of the stored response: it survives the
// memory tier, the disk tier (a body in the record or in a file of its
// own), a restart, and the stale copies soft purges make in each tier.
// Losing it would let a page stored for one user be served stale to
// others (see edge/policy.PerUser).
func TestMustRevalidateSurvives(t *testing.T) {
	dir := t.TempDir()
	small, large := newEntry("http://h/alice", 100), newEntry("http://h/alice-big", 5000)
	plain := newEntry("http://h/shared", 100)
	small.MustRevalidate, large.MustRevalidate = true, true
	want := map[string]bool{small.Key: true, large.Key: true, plain.Key: false}
	check := func(s *Store, tier Tier, stale bool) {
		t.Helper()
		for k, mark := range want {
			e := mustGet(t, s, k, tier)
			if e.MustRevalidate != mark || e.Stale != stale {
				t.Fatalf("%s (%v): MustRevalidate %v, Stale %v; want %v, %v", k, tier, e.MustRevalidate, e.Stale, mark, stale)
			}
		}
	}

	s := openStore(t, Options{Dir: dir, FileBodyMin: 1000})
	for _, e := range []*Entry{small, large, plain} {
		s.Set(e)
	}
	check(s, TierMemory, false)
	if _, err := s.Purge(Purge{Prefixes: []string{"http://h/"}, Soft: true}); err != nil {
		t.Fatal(err)
	}
	check(s, TierMemory, true) // the memory tier's (or pending write's) stale copies
	s.Flush()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openStore(t, Options{Dir: dir, FileBodyMin: 1000, NoMemoryTier: true})
	check(s, TierDisk, true) // stale by the record, or by its row's purge mark
	for _, e := range []*Entry{small, large, plain} {
		s.Set(e) // fresh again, written after the purge
	}
	s.Flush()
	check(s, TierDisk, false)
	if _, err := s.Purge(Purge{Keys: []string{small.Key, large.Key, plain.Key}, Soft: true}); err != nil {
		t.Fatal(err)
	}
	check(s, TierDisk, true) // marked on disk: the row's flag over the record
}
