package storage

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// The index answers every purge kind exactly as matching each entry would.
func TestMemIndexLookup(t *testing.T) {
	x := newMemIndex()
	for _, e := range purgeFixture {
		x.add(e)
	}
	cases := purgeKindCases()
	cases = append(cases,
		struct {
			name    string
			p       Purge
			matched []string
		}{"many keys (map path)", Purge{Keys: manyKeys("http://a.example/x", "http://b.example/x")},
			[]string{"http://a.example/x", "http://a.example/x\x00gzip", "http://a.example/x\x00br", "http://b.example/x"}},
		struct {
			name    string
			p       Purge
			matched []string
		}{"empty prefix", Purge{Prefixes: []string{""}}, keysOf(purgeFixture)},
	)
	for _, c := range cases {
		if c.p.All {
			continue // the memory tier walks the cache for All
		}
		t.Run(c.name, func(t *testing.T) {
			got := keysOf(x.lookup(newMatcher(c.p)))
			want := slices.Clone(c.matched)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("lookup(%+v) = %q, want %q", c.p, got, want)
			}
		})
	}
	t.Run("exact (Delete)", func(t *testing.T) {
		got := keysOf(x.lookup(&matcher{exact: toSet([]string{"http://a.example/x", "nope"})}))
		if want := []string{"http://a.example/x"}; !slices.Equal(got, want) {
			t.Errorf("lookup(exact) = %q, want %q", got, want)
		}
	})
}

// manyKeys returns keys plus enough absent ones to pass fewFamilies.
func manyKeys(keys ...string) []string {
	for i := range fewFamilies {
		keys = append(keys, fmt.Sprintf("http://absent.example/%d", i))
	}
	return keys
}

// Adds and removes are counted per value: a value offered twice stays until
// both leave, a replaced value leaves with its tags, unknown values are
// ignored.
func TestMemIndexCounts(t *testing.T) {
	x := newMemIndex()
	a1, a2 := tagged("k", "t1"), tagged("k", "t2")
	steps := []struct {
		name       string
		do         func()
		t1, t2     []string // keys lookup finds by tag
		keys, vals int
	}{
		{"add a1 twice", func() { x.add(a1); x.add(a1) }, []string{"k"}, nil, 1, 1},
		{"add a2", func() { x.add(a2) }, []string{"k"}, []string{"k"}, 1, 2},
		{"remove a1 once", func() { x.remove(a1) }, []string{"k"}, []string{"k"}, 1, 2},
		{"remove a1 again", func() { x.remove(a1) }, nil, []string{"k"}, 1, 1},
		{"remove unknown", func() { x.remove(a1); x.remove(nil); x.remove(tagged("other")) }, nil, []string{"k"}, 1, 1},
		{"remove a2", func() { x.remove(a2) }, nil, nil, 0, 0},
	}
	for _, st := range steps {
		st.do()
		for tag, want := range map[string][]string{"t1": st.t1, "t2": st.t2} {
			if got := keysOf(x.lookup(newMatcher(Purge{Tags: []string{tag}}))); !slices.Equal(got, want) {
				t.Errorf("after %s: tag %s finds %q, want %q", st.name, tag, got, want)
			}
		}
		if keys, vals := x.size(); keys != st.keys || vals != st.vals {
			t.Errorf("after %s: size = %d keys, %d values; want %d, %d", st.name, keys, vals, st.keys, st.vals)
		}
		if n := x.tags.Len(); st.vals == 0 && n != 0 {
			t.Errorf("after %s: %d tag rows left", st.name, n)
		}
	}
}

// checkIndexExact fails unless, with nothing in flight, every resident value
// is indexed (a missing one would survive a purge) and nothing else is (a
// leak would grow without bound).
func checkIndexExact(t testing.TB, s *Store) {
	t.Helper()
	s.Flush()
	s.mem.wait()
	resident := 0
	var missing []string
	s.mem.cache.IterValues(func(e *Entry) bool {
		resident++
		if !s.mem.idx.has(e) {
			missing = append(missing, e.Key)
		}
		return false
	})
	if len(missing) > 0 {
		t.Fatalf("%d resident values not indexed, e.g. %q", len(missing), missing[0])
	}
	if _, vals := s.mem.idx.size(); vals != resident {
		t.Fatalf("index holds %d values, memory %d", vals, resident)
	}
}

// Under eviction pressure (a memory tier of ~140 entries filled by several
// writers), with concurrent unrelated Sets, re-Sets of one value, promotions,
// deletes and purges of all kinds: after each purge no matching key is
// returned fresh by Get, and once quiet the index holds exactly the resident
// values.
func TestMemIndexUnderEvictionPressure(t *testing.T) {
	s := openStore(t, Options{MemoryBytes: 64 << 10, WriteQueue: 1 << 12})
	workers, rounds, perRound := 4, 30, 24
	if raceEnabled {
		rounds = 15
	}
	var stop atomic.Bool
	var bg sync.WaitGroup
	bg.Go(func() { noise(t, s, &stop) })
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				if !purgeRound(t, s, w, r, perRound) {
					return
				}
			}
		})
	}
	wg.Wait()
	stop.Store(true)
	bg.Wait()
	if st := s.Stats(); st.MemoryEvictions == 0 {
		t.Errorf("no memory evictions: the test exerts no pressure (%+v)", st)
	}
	checkIndexExact(t, s)
}

// noise keeps the memory tier full and churning until stop: Sets of many
// keys (each twice, the same value), Gets that promote disk hits, deletes
// and purges of its own keys and tags.
func noise(t testing.TB, s *Store, stop *atomic.Bool) {
	for i := 0; !stop.Load(); i++ {
		k := fmt.Sprintf("http://noise.example/%d", i%2000)
		e := tagged(k, "noise", fmt.Sprintf("n%d", i%50))
		s.Set(e)
		s.Set(e)
		if _, _, err := s.Get(fmt.Sprintf("http://noise.example/%d", (i*7)%2000)); err != nil && !errors.Is(err, ErrNotFound) {
			t.Errorf("noise Get: %v", err)
			return
		}
		var err error
		switch i % 97 {
		case 0:
			_, err = s.Purge(Purge{Tags: []string{fmt.Sprintf("n%d", i%50)}, Soft: i%2 == 0})
		case 30:
			err = s.Delete(k)
		case 60:
			_, err = s.DeletePrefix(fmt.Sprintf("http://noise.example/%d", i%10))
		}
		if err != nil {
			t.Errorf("noise purge: %v", err)
			return
		}
	}
}

// purgeRound stores perRound keys (primary and variant) tagged for worker w
// and round r, purges them one way, and checks that Get returns none of
// them fresh (hard: none at all). It reports false after a failure.
func purgeRound(t testing.TB, s *Store, w, r, perRound int) bool {
	base := fmt.Sprintf("http://w%d.example/r%d/", w, r)
	tag := fmt.Sprintf("w%d-r%d", w, r)
	var keys, primaries []string
	for i := range perRound {
		k := fmt.Sprintf("%s%d", base, i)
		primaries = append(primaries, k)
		keys = append(keys, k, k+"\x00gzip")
		s.Set(tagged(k, tag))
		s.Set(tagged(k+"\x00gzip", tag, "other"))
	}
	if r%2 == 0 {
		s.Flush() // resident now: the next Sets replace them in place
	}
	for _, k := range primaries {
		s.Set(tagged(k, "other", tag)) // a new value of the key
	}
	kinds := []Purge{{Tags: []string{tag}}, {Prefixes: []string{base}}, {Keys: primaries}}
	p := kinds[r%len(kinds)]
	p.Soft = (r/len(kinds))%2 == 1
	if _, err := s.Purge(p); err != nil {
		t.Errorf("Purge(%+v): %v", p, err)
		return false
	}
	for _, k := range keys {
		got, tier, err := s.Get(k)
		switch {
		case p.Soft && err == nil && got.Stale, !p.Soft && errors.Is(err, ErrNotFound):
		case p.Soft && errors.Is(err, ErrNotFound):
			// Evicted from memory and its disk write skipped: gone is fine.
		default:
			t.Errorf("Get(%q) after %+v = %v from %v, %v", k, p, got, tier, err)
			return false
		}
	}
	return true
}
