package storage

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// Holds is true while the entry a caller read is what the store still
// holds, in memory or on disk alone, and false once anything replaced,
// removed or marked it: the same answer a Get compared with the entry
// would give.
func TestHolds(t *testing.T) {
	for _, tt := range []struct {
		name string
		// meanwhile runs between the read of the entry and Holds.
		meanwhile func(t *testing.T, s *Store, e *Entry)
		want      bool
	}{
		{"still stored", func(*testing.T, *Store, *Entry) {}, true},
		{"evicted", func(t *testing.T, s *Store, e *Entry) {
			if _, err := s.Evict(e.Key); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"refetched", func(t *testing.T, s *Store, e *Entry) {
			again := newEntry(e.Key, 100)
			again.RequestTime, again.ResponseTime = e.RequestTime.Add(time.Second), e.ResponseTime.Add(time.Second)
			s.Set(again)
			s.Flush()
		}, false},
		{"purged", func(t *testing.T, s *Store, e *Entry) {
			if _, err := s.Purge(Purge{Keys: []string{e.Key}}); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"soft purged", func(t *testing.T, s *Store, e *Entry) {
			if _, err := s.Purge(Purge{Keys: []string{e.Key}, Soft: true}); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"soft purged by tag", func(t *testing.T, s *Store, e *Entry) {
			if _, err := s.Purge(Purge{Tags: []string{"page-" + e.Key}, Soft: true}); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"hidden", func(t *testing.T, s *Store, e *Entry) {
			t.Cleanup(s.Hide(Purge{Keys: []string{e.Key}}))
		}, false},
		{"hidden soft by tag", func(t *testing.T, s *Store, e *Entry) {
			t.Cleanup(s.Hide(Purge{Tags: []string{"page-" + e.Key}, Soft: true}))
		}, false},
		{"another key hidden", func(t *testing.T, s *Store, e *Entry) {
			t.Cleanup(s.Hide(Purge{Keys: []string{e.Key + "/other"}, Tags: []string{"other"}}))
		}, true},
	} {
		for _, tier := range []struct {
			name string
			open func(t *testing.T) *Store
			want Tier
		}{
			{"memory", func(t *testing.T) *Store {
				s := openStore(t, Options{})
				s.Set(newEntry("k", 100))
				s.Flush()
				return s
			}, TierMemory},
			{"disk", func(t *testing.T) *Store { return reopenedWith(t, t.TempDir(), "k") }, TierDisk},
		} {
			t.Run(tt.name+"/"+tier.name, func(t *testing.T) {
				s := tier.open(t)
				e, got, err := s.Get("k")
				if err != nil || got != tier.want {
					t.Fatalf("Get: tier %v, err %v; want tier %v", got, err, tier.want)
				}
				tt.meanwhile(t, s, e)
				if got := s.Holds(e); got != tt.want {
					t.Errorf("Holds = %v, want %v", got, tt.want)
				}
			})
		}
	}
}

// Holds of a disk-tier entry costs what its head costs, whatever its body:
// it decodes no body (a hit's Get copies it out whole), and promotes
// nothing to memory.
func TestHoldsReadsNoBody(t *testing.T) {
	const size = 1 << 20
	dir := t.TempDir()
	e := newEntry("big", size)
	s := openStore(t, Options{Dir: dir, NoFileBodies: true})
	s.Set(e)
	s.Flush()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, Options{Dir: dir, NoFileBodies: true}) // the memory tier empty
	const calls = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range calls {
		if !s.Holds(e) {
			t.Fatal("Holds = false for the entry on disk")
		}
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n >= size {
		t.Errorf("%d calls of Holds allocated %d bytes: a body (%d bytes) was read", calls, n, size)
	}
	s.Flush()
	if st := s.Stats(); st.MemoryEntries != 0 {
		t.Errorf("memory entries = %d after Holds alone, want 0 (nothing promoted)", st.MemoryEntries)
	}
}

func TestHoldsAfterClose(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	e := newEntry("k", 10)
	s.Set(e)
	s.Flush()
	if !s.Holds(e) {
		t.Fatal("Holds = false before Close")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s.Holds(e) {
		t.Error("Holds = true after Close")
	}
}

// BenchmarkHolds compares Holds with the Get it replaced in edge's
// storeEncoded (a Get, then a comparison of times and stale mark) for a
// disk-tier entry whose body is kept in bbolt, the memory tier off: Get
// decodes the body (past the decoded-record cache's 8 KiB, on every call),
// Holds only the record's head.
func BenchmarkHolds(b *testing.B) {
	for _, size := range []int{16 << 10, 256 << 10} {
		s := openStore(b, Options{NoMemoryTier: true, NoFileBodies: true})
		e := originEntry(fmt.Sprintf("http://www.example.com/obj/%d", size), size)
		s.Set(e)
		s.Flush()
		b.Run(fmt.Sprintf("get/%dKiB", size>>10), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if cur, _, err := s.Get(e.Key); err != nil || !sameResponse(cur, e) {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("holds/%dKiB", size>>10), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !s.Holds(e) {
					b.Fatal("Holds = false")
				}
			}
		})
	}
}
