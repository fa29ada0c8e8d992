package storage

import (
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"testing"
)

// filterBuilt waits for the build of s's filter of absent keys under way,
// and fails if there is no filter afterwards.
func filterBuilt(t *testing.T, s *Store) {
	t.Helper()
	s.disk.absent.builds.Wait()
	if s.disk.absent.cur.Load() == nil {
		t.Fatal("no filter of absent keys was built")
	}
}

// TestAbsentKeysNeverHideAStoredKey: every key put on disk is found, on
// the filter's first build at open (from a file that holds keys), while
// it is rebuilt under a stream of writes, and after its rebuild; keys
// never put are answered without the disk.
func TestAbsentKeysNeverHideAStoredKey(t *testing.T) {
	dir := t.TempDir()
	var before []string
	for i := range 300 {
		before = append(before, fmt.Sprintf("http://h/before/%d", i))
	}
	s := openStore(t, Options{Dir: dir, NoMemoryTier: true})
	for _, k := range before {
		s.Set(newEntry(k, 100))
	}
	s.Flush()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, Options{Dir: dir, NoMemoryTier: true})
	filterBuilt(t, s)
	for _, k := range before {
		mustGet(t, s, k, TierDisk)
	}
	if !s.disk.absent.absent("http://h/never") {
		t.Error("a key never put is not known absent")
	}

	// Make the filter full: the next batch's commit starts a rebuild,
	// which runs while four writers go on putting keys.
	first := s.disk.absent.cur.Load()
	first.added.Store(first.capacity)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 200 {
				s.Set(newEntry(fmt.Sprintf("http://h/during/%d/%d", w, i), 100))
				if i%20 == 0 {
					s.Flush()
				}
			}
		})
	}
	wg.Wait()
	s.Flush()
	filterBuilt(t, s)
	if s.disk.absent.cur.Load() == first {
		t.Fatal("the full filter was not rebuilt")
	}
	for _, k := range before {
		mustGet(t, s, k, TierDisk)
	}
	for w := range 4 {
		for i := range 200 {
			mustGet(t, s, fmt.Sprintf("http://h/during/%d/%d", w, i), TierDisk)
		}
	}
	absent := 0
	for i := range 1000 {
		if s.disk.absent.absent(fmt.Sprintf("http://h/never/%d", i)) {
			absent++
		}
	}
	if absent < 950 { // about 1% false "maybe" at capacity, far less here
		t.Errorf("only %d of 1000 keys never put are known absent", absent)
	}
}

// TestAbsentKeysAfterPurge: a key purged from disk and put again is found;
// so is every key a purge left.
func TestAbsentKeysAfterPurge(t *testing.T) {
	s := openStore(t, Options{NoMemoryTier: true})
	filterBuilt(t, s)
	for i := range 50 {
		s.Set(newEntry(fmt.Sprintf("http://h/p/%d", i), 100))
	}
	s.Flush()
	if err := s.Delete("http://h/p/7"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeletePrefix("http://h/p/1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Get("http://h/p/7"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a deleted key: %v", err)
	}
	s.Set(newEntry("http://h/p/7", 100))
	s.Flush()
	mustGet(t, s, "http://h/p/7", TierDisk)
	for _, k := range []string{"http://h/p/0", "http://h/p/2", "http://h/p/49"} {
		mustGet(t, s, k, TierDisk)
	}
}

// TestAbsentKeysStopWithTheStore: a build under way when the store closes
// ends with it, and the store closes cleanly.
func TestAbsentKeysStopWithTheStore(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, Options{Dir: dir, NoMemoryTier: true})
	for i := range 2 * scanChunk {
		s.Set(newEntry(fmt.Sprintf("http://h/s/%d", i), 10))
	}
	s.Flush()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(Options{Dir: dir, NoMemoryTier: true}) // its build starts now
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.disk.absent.builds.Wait() // returns: the build ended with the store
}

func TestBloom(t *testing.T) {
	b := newBloom(1000)
	if b.capacity != minFilterKeys || len(b.bits)*64 < minFilterKeys*filterBitsPerKey {
		t.Fatalf("capacity %d, %d bits", b.capacity, len(b.bits)*64)
	}
	a := newAbsentKeys()
	for i := range minFilterKeys {
		b.add(hashOf(a, fmt.Sprint("in", i)))
	}
	for i := range minFilterKeys {
		if !b.has(hashOf(a, fmt.Sprint("in", i))) {
			t.Fatalf("key %d added and not found", i)
		}
	}
	false_ := 0
	for i := range 10000 {
		if b.has(hashOf(a, fmt.Sprint("out", i))) {
			false_++
		}
	}
	if false_ > 300 { // 1% expected at capacity
		t.Errorf("%d of 10000 keys never added are maybe in it", false_)
	}
}

func hashOf(a *absentKeys, key string) uint64 { return maphash.String(a.seed, key) }
