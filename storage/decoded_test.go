package storage

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// decodedCases are the records decodedRecords remembers: a body in a file
// (the record is the head) and a small body kept in bbolt.
var decodedCases = []struct {
	name string
	size int
}{{"file", DefaultFileBodyMin}, {"inline", 100}}

// Disk hits on an unchanged record return the Entry the first one decoded,
// with what a caller derived from it (edge's parsed header fields), rather
// than decoding it again each time.
func TestDiskHitsShareTheDecodedEntry(t *testing.T) {
	for _, tc := range decodedCases {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t, Options{NoMemoryTier: true})
			key := "http://h/shared/" + tc.name
			s.Set(newEntry(key, tc.size))
			s.Flush()
			first := mustGet(t, s, key, TierDisk)
			if first.InFile() != (tc.size >= DefaultFileBodyMin) {
				t.Fatalf("InFile = %v", first.InFile())
			}
			first.SetDerived("parsed")
			again := mustGet(t, s, key, TierDisk)
			if again != first || again.Derived() != "parsed" || !again.Shared() {
				t.Fatalf("second hit = %p (derived %v, shared %v), want the first hit's entry %p", again, again.Derived(), again.Shared(), first)
			}
		})
	}
}

// A remembered Entry is returned only for the very record it was decoded
// from: a record replaced, marked stale, removed or damaged since is seen
// as such by the next Get, and the Entries returned before are unchanged.
func TestDecodedEntryNeverOutlivesItsRecord(t *testing.T) {
	for _, tc := range decodedCases {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t, Options{NoMemoryTier: true})
			key := "http://h/record/" + tc.name
			first := newEntry(key, tc.size)
			s.Set(first)
			s.Flush()
			old := mustGet(t, s, key, TierDisk)
			assertSameEntry(t, old, first)

			// Replaced: the new body, not the remembered one.
			second := newEntry(key, tc.size)
			second.Body = bytes.Repeat([]byte("y"), tc.size)
			s.Set(second)
			s.Flush()
			got := mustGet(t, s, key, TierDisk)
			assertSameEntry(t, got, second)
			if got == old {
				t.Fatal("the replaced record's entry")
			}

			// Marked stale by a soft purge: a stale copy; the shared
			// fresh one stays fresh.
			fresh := mustGet(t, s, key, TierDisk)
			if _, err := s.Purge(Purge{Keys: []string{key}, Soft: true}); err != nil {
				t.Fatal(err)
			}
			stale := mustGet(t, s, key, TierDisk)
			if !stale.Stale || stale.StaleAt.IsZero() || fresh.Stale {
				t.Fatalf("after a soft purge: Stale = %v (at %v), the earlier hit's Stale = %v; want true (timed), false", stale.Stale, stale.StaleAt, fresh.Stale)
			}
			if stale.Shared() || !fresh.Shared() {
				t.Fatalf("Shared: %v for the stale copy, %v for the fresh entry; want false, true", stale.Shared(), fresh.Shared())
			}

			// Stored again, then damaged in place while remembered: the
			// damage is detected, the record dropped and counted.
			s.Set(second)
			s.Flush()
			if e := mustGet(t, s, key, TierDisk); e.Stale {
				t.Fatal("stored again: still stale")
			}
			damageInPlace(t, s, key)
			mustMiss(t, s, key)
			if got := s.Stats().CorruptDropped; got != 1 {
				t.Fatalf("CorruptDropped = %d, want 1", got)
			}

			// Removed: a miss.
			s.Set(second)
			s.Flush()
			mustGet(t, s, key, TierDisk)
			if _, err := s.Purge(Purge{Keys: []string{key}}); err != nil {
				t.Fatal(err)
			}
			mustMiss(t, s, key)
		})
	}
}

// damageInPlace flips a bit of the record stored under key in the open
// store's file, as bit rot would.
func damageInPlace(t *testing.T, s *Store, key string) {
	t.Helper()
	var err error
	s.w.locked(func() {
		err = s.disk.update(func(t *txn) error {
			v := t.entries.Get([]byte(key))
			if v == nil {
				return errors.New("not stored")
			}
			v = bytes.Clone(v)
			v[len(v)/2] ^= 0x10
			return t.entries.Put([]byte(key), v)
		})
	})
	if err != nil {
		t.Fatalf("damage %q: %v", key, err)
	}
}

// What the disk tier remembers is bounded by what it takes in memory
// (Entry.Size), not by its record's bytes alone: a head of many short
// fields decodes into a map far larger than its record, and a body kept in
// bbolt is remembered only when small. Such records are decoded per hit,
// as before.
func TestDecodedEntriesAreBounded(t *testing.T) {
	s := openStore(t, Options{NoMemoryTier: true})
	fields := newEntry("http://h/bounded/fields", 100)
	for i := range 300 {
		fields.Header[fmt.Sprintf("X-F%03d", i)] = []string{"v"}
	}
	body := newEntry("http://h/bounded/body", 6<<10)
	for _, e := range []*Entry{fields, body} {
		if n := len(Encode(e)); n > decodedMaxBytes {
			t.Fatalf("%s: a record of %d bytes: the test wants one under %d", e.Key, n, decodedMaxBytes)
		}
		s.Set(e)
	}
	s.Flush()
	for _, e := range []*Entry{fields, body} {
		first, again := mustGet(t, s, e.Key, TierDisk), mustGet(t, s, e.Key, TierDisk)
		if first == again || first.Shared() {
			t.Errorf("%s (Size %d): remembered", e.Key, e.Size())
		}
		assertSameEntry(t, again, e)
	}
}
