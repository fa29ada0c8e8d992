package storage

import (
	"errors"
	"fmt"
	"hash/maphash"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestTierString(t *testing.T) {
	tests := []struct {
		tier Tier
		want string
	}{
		{TierNone, "none"}, {TierMemory, "memory"}, {TierDisk, "disk"}, {Tier(7), "Tier(7)"},
	}
	for _, tc := range tests {
		if got := tc.tier.String(); got != tc.want {
			t.Errorf("Tier(%d).String() = %q, want %q", int(tc.tier), got, tc.want)
		}
	}
}

func TestEntrySizeCountsBodyKeyAndHeaders(t *testing.T) {
	small, big := newEntry("k", 10), newEntry("k", 1010)
	if got := big.Size() - small.Size(); got != 1000 {
		t.Errorf("1000 more body bytes grew Size by %d", got)
	}
	if got := (&Entry{}).Size(); got <= 0 {
		t.Errorf("empty entry Size = %d, want > 0", got)
	}
}

func TestSetGetMemoryHit(t *testing.T) {
	s := openStore(t, Options{})
	e := newEntry("http://h/mem", 100)
	s.Set(e)
	s.Flush()
	if got := mustGet(t, s, e.Key, TierMemory); got != e {
		t.Fatalf("memory hit returned a different value")
	}
	mustMiss(t, s, "http://h/other")
}

func TestGetAfterSetBeforeWriteLands(t *testing.T) {
	for _, mem := range []int64{0, -1} {
		t.Run(fmt.Sprintf("MemoryBytes=%d", mem), func(t *testing.T) {
			s := openStore(t, Options{NoMemoryTier: mem < 0})
			release := gateWriter(t, s)
			e := newEntry("http://h/pending", 100)
			s.Set(e)
			if got := mustGet(t, s, e.Key, TierMemory); got != e {
				t.Fatal("pending Get returned a different value")
			}
			if got := s.Stats().PendingWrites; got != 1 {
				t.Errorf("PendingWrites = %d, want 1", got)
			}
			release()
			s.Flush()
			if got := s.Stats(); got.PendingWrites != 0 || got.DiskEntries != 1 || got.DiskWrites != 1 {
				t.Errorf("after Flush: %+v, want 0 pending, 1 disk entry, 1 write", got)
			}
		})
	}
}

func TestSetReplacesOlderValue(t *testing.T) {
	for _, mem := range []int64{0, -1} {
		t.Run(fmt.Sprintf("MemoryBytes=%d", mem), func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, Options{Dir: dir, NoMemoryTier: mem < 0})
			v1, v2 := newEntry("http://h/r", 10), newEntry("http://h/r", 20)
			s.Set(v1)
			s.Set(v2)
			// v2 itself, or its disk copy if its write landed already (a
			// loaded machine can take the writer's linger between the two
			// calls): the bodies' lengths tell v1 and v2 apart.
			if got, tier, err := s.Get(v1.Key); err != nil || len(got.Body) != len(v2.Body) {
				t.Fatalf("Get before Flush did not return the newer value: %v from %v, %v", got, tier, err)
			}
			s.Flush()
			got, _, _ := s.Get(v1.Key)
			assertSameEntry(t, got, v2)
			if st := s.Stats(); st.DiskEntries != 1 {
				t.Errorf("DiskEntries = %d, want 1", st.DiskEntries)
			}
		})
	}
}

func TestMemoryDisabledServesFromDisk(t *testing.T) {
	s := openStore(t, Options{NoMemoryTier: true})
	e := newEntry("http://h/disk", 100)
	s.Set(e)
	s.Flush()
	for range 2 { // no promotion without a memory tier
		assertSameEntry(t, mustGet(t, s, e.Key, TierDisk), e)
	}
}

func TestDiskHitIsPromotedToMemory(t *testing.T) {
	dir := t.TempDir()
	e := newEntry("http://h/promote", 100)
	first := openStore(t, Options{Dir: dir})
	first.Set(e)
	first.Flush()
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, Options{Dir: dir})
	fromDisk := mustGet(t, s, e.Key, TierDisk)
	assertSameEntry(t, fromDisk, e)
	s.Flush()
	if got := mustGet(t, s, e.Key, TierMemory); got != fromDisk {
		t.Fatal("promoted entry is not the value the disk hit returned")
	}
}

func TestLargeEntriesSkipMemory(t *testing.T) {
	s := openStore(t, Options{MemoryBytes: 4 << 10})
	e := newEntry("http://h/big", 2<<10) // more than a quarter of the budget
	s.Set(e)
	s.Flush()
	mustGet(t, s, e.Key, TierDisk)
	s.Flush()
	mustGet(t, s, e.Key, TierDisk)
}

func TestRestartKeepsEntriesAndTotals(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, Options{Dir: dir})
	var keys []string
	for i := range 50 {
		e := newEntry(fmt.Sprintf("http://h/restart/%d", i), i*10)
		keys = append(keys, e.Key)
		s.Set(e)
	}
	s.Flush()
	before := s.Stats()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, Options{Dir: dir})
	after := s.Stats()
	if after.DiskEntries != before.DiskEntries || after.DiskBytes != before.DiskBytes || after.DiskEntries != 50 {
		t.Fatalf("totals after restart = %d entries, %d bytes; before %d, %d",
			after.DiskEntries, after.DiskBytes, before.DiskEntries, before.DiskBytes)
	}
	for i, k := range keys {
		assertSameEntry(t, mustGet(t, s, k, TierDisk), newEntry(k, i*10))
	}
}

// lruStore is a disk-only store holding 10 entries of 1000 bytes, as
// many as its disk budget fits, written in key order (key(0) least
// recently used).
func lruStore(t *testing.T) (s *Store, key func(int) string, one int64) {
	t.Helper()
	key = func(i int) string { return fmt.Sprintf("http://h/lru/%02d", i) }
	one = diskCost(newEntry(key(0), 1000))
	s = openStore(t, Options{NoMemoryTier: true, DiskBytes: 10 * one})
	for i := range 10 {
		s.Set(newEntry(key(i), 1000))
		s.Flush() // one batch each: a distinct LRU position
	}
	return s, key, one
}

func TestDiskLRUEviction(t *testing.T) {
	s, key, one := lruStore(t)
	mustGet(t, s, key(0), TierDisk) // touch: 0 becomes the most recently used
	s.Flush()
	if st := s.Stats(); st.DiskEvictions != 0 || st.DiskBytes != 10*one {
		t.Fatalf("at the budget: %+v", st)
	}
	s.Set(newEntry(key(10), 1000)) // 11 entries: evict down to 90% = 9 entries
	s.Flush()

	st := s.Stats()
	if st.DiskEvictions != 2 || st.DiskEntries != 9 || st.DiskBytes > 10*one {
		t.Fatalf("after eviction: %d evictions, %d entries, %d bytes; want 2, 9, <= %d",
			st.DiskEvictions, st.DiskEntries, st.DiskBytes, 10*one)
	}
	for i := range 11 {
		_, _, err := s.Get(key(i))
		wantEvicted := i == 1 || i == 2 // the least recently used; 0 was touched
		if gotEvicted := errors.Is(err, ErrNotFound); gotEvicted != wantEvicted {
			t.Errorf("%s evicted = %v, want %v", key(i), gotEvicted, wantEvicted)
		}
	}
}

// corruptOnDisk rewrites the stored value of key with bbolt directly; the
// store must be closed.
func corruptOnDisk(t testing.TB, dir, key string, damage func([]byte) []byte) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEntries)
		v := b.Get([]byte(key))
		if v == nil {
			return fmt.Errorf("%q not on disk", key)
		}
		return b.Put([]byte(key), damage(append([]byte(nil), v...)))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCorruptDiskEntryIsDropped(t *testing.T) {
	tests := []struct {
		name   string
		damage func([]byte) []byte
	}{
		{"flipped body byte", func(v []byte) []byte { v[len(v)-10] ^= 0x01; return v }},
		{"truncated", func(v []byte) []byte { return v[:len(v)/2] }},
		{"entry of another key", func([]byte) []byte { return Encode(newEntry("http://h/other", 5)) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			const key = "http://h/corrupt"
			s := openStore(t, Options{Dir: dir})
			s.Set(newEntry(key, 100))
			s.Set(newEntry("http://h/fine", 100))
			s.Flush()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			corruptOnDisk(t, dir, key, tc.damage)

			s = openStore(t, Options{Dir: dir})
			mustMiss(t, s, key)
			mustMiss(t, s, key) // dropped: counted once
			if st := s.Stats(); st.CorruptDropped != 1 || st.DiskEntries != 1 {
				t.Fatalf("CorruptDropped = %d, DiskEntries = %d; want 1, 1", st.CorruptDropped, st.DiskEntries)
			}
			mustGet(t, s, "http://h/fine", TierDisk)
		})
	}
}

func TestDeleteRemovesFromAllTiers(t *testing.T) {
	for _, mem := range []int64{0, -1} {
		t.Run(fmt.Sprintf("MemoryBytes=%d", mem), func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, Options{Dir: dir, NoMemoryTier: mem < 0})
			landed, kept := newEntry("http://h/landed", 10), newEntry("http://h/kept", 10)
			s.Set(landed)
			s.Set(kept)
			s.Flush()
			release := gateWriter(t, s)
			pending := newEntry("http://h/pending", 10)
			s.Set(pending)
			if err := s.Delete(landed.Key, pending.Key, "http://h/absent"); err != nil {
				t.Fatal(err)
			}
			mustMiss(t, s, landed.Key)
			mustMiss(t, s, pending.Key)
			release()
			s.Flush()
			mustMiss(t, s, landed.Key)
			mustMiss(t, s, pending.Key)
			mustGet(t, s, kept.Key, map[bool]Tier{true: TierMemory, false: TierDisk}[mem >= 0])
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openStore(t, Options{Dir: dir, NoMemoryTier: mem < 0})
			mustMiss(t, s, landed.Key)
			mustMiss(t, s, pending.Key)
			if st := s.Stats(); st.DiskEntries != 1 {
				t.Errorf("DiskEntries = %d, want 1", st.DiskEntries)
			}
		})
	}
}

func TestDeletePrefix(t *testing.T) {
	removed := []string{"http://h/a/", "http://h/a/1", "http://h/a/2/x", "http://h/a/pending"}
	kept := []string{"http://h/ab", "http://h/a", "http://h/b/1", "http://g/a/1"}
	for _, mem := range []int64{0, -1} {
		t.Run(fmt.Sprintf("MemoryBytes=%d", mem), func(t *testing.T) {
			s := openStore(t, Options{NoMemoryTier: mem < 0})
			for _, k := range append(removed[:3:3], kept...) {
				s.Set(newEntry(k, 10))
			}
			s.Flush()
			release := gateWriter(t, s)
			s.Set(newEntry(removed[3], 10))

			n, err := s.DeletePrefix("http://h/a/")
			if err != nil || n != len(removed) {
				t.Fatalf("DeletePrefix = %d, %v; want %d, nil", n, err, len(removed))
			}
			release()
			s.Flush()
			for _, k := range removed {
				mustMiss(t, s, k)
			}
			for _, k := range kept {
				if _, _, err := s.Get(k); err != nil {
					t.Errorf("Get(%q) = %v, want kept", k, err)
				}
			}
			if st := s.Stats(); st.DiskEntries != int64(len(kept)) {
				t.Errorf("DiskEntries = %d, want %d", st.DiskEntries, len(kept))
			}
		})
	}
}

// A prefix purge larger than one deletion chunk spans several transactions.
func TestDeletePrefixManyKeys(t *testing.T) {
	s := openStore(t, Options{NoMemoryTier: true, WriteQueue: 4096})
	const n = evictChunk + 100
	for i := range n {
		s.Set(&Entry{Key: fmt.Sprintf("http://h/many/%05d", i)})
	}
	s.Set(&Entry{Key: "http://h/z"})
	s.Flush()
	if got, err := s.DeletePrefix("http://h/many/"); got != n || err != nil {
		t.Fatalf("DeletePrefix = %d, %v; want %d", got, err, n)
	}
	if st := s.Stats(); st.DiskEntries != 1 {
		t.Fatalf("DiskEntries = %d, want 1", st.DiskEntries)
	}
}

func TestQueueFullSkipsWrites(t *testing.T) {
	s := openStore(t, Options{NoMemoryTier: true, WriteQueue: 1})
	release := gateWriter(t, s)
	gate, taken := s.w.batchHook, make(chan struct{})
	var once sync.Once
	s.w.batchHook = func() { once.Do(func() { close(taken) }); gate() }
	s.Set(newEntry("http://h/q/0", 10))
	// Once the writer waits at the gate it has collected its batch (the
	// first Set alone): later Sets cannot join it.
	<-taken
	for i := 1; i < 10; i++ {
		s.Set(newEntry(fmt.Sprintf("http://h/q/%d", i), 10))
	}
	// One op fits in the queue; the other 8 are skipped.
	if st := s.Stats(); st.SkippedWrites != 8 {
		t.Fatalf("SkippedWrites = %d, want 8", st.SkippedWrites)
	}
	release()
	s.Flush()
	if st := s.Stats(); st.DiskEntries+int64(st.SkippedWrites) != 10 || st.PendingWrites != 0 {
		t.Fatalf("after Flush: %+v; want written + skipped = 10, nothing pending", st)
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s.Set(newEntry("http://h/c", 10))
	for range 2 {
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if _, _, err := s.Get("http://h/c"); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close = %v, want ErrClosed", err)
	}
	s.Set(newEntry("http://h/c", 10)) // does nothing, must not panic
	s.Flush()
	if err := s.Delete("http://h/c"); !errors.Is(err, ErrClosed) {
		t.Errorf("Delete after Close = %v, want ErrClosed", err)
	}
	if _, err := s.DeletePrefix("http://"); !errors.Is(err, ErrClosed) {
		t.Errorf("DeletePrefix after Close = %v, want ErrClosed", err)
	}
	if st := s.Stats(); st.DiskEntries != 1 {
		t.Errorf("Close did not drain the queue: DiskEntries = %d", st.DiskEntries)
	}
}

func TestOpenErrorsNameThePath(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		dir  string
	}{
		{"dir below a file", filepath.Join(notDir, "sub")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(Options{Dir: tc.dir})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if want := filepath.Join(tc.dir, FileName); !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not name %s", err, want)
			}
		})
	}
	if _, err := Open(Options{}); err == nil || !strings.Contains(err.Error(), "Dir") {
		t.Errorf("Open without Dir: %v", err)
	}
}

func TestOpenUnwritableDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	_, err := Open(Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, FileName)) {
		t.Fatalf("Open = %v, want an error naming the file", err)
	}
}

func TestKeysTheDiskCannotStore(t *testing.T) {
	s := openStore(t, Options{})
	long := newEntry(strings.Repeat("k", MaxKeyLen+1), 10)
	s.Set(long)
	s.Set(&Entry{Key: ""})
	fine := newEntry("http://h/fine", 10)
	s.Set(fine)
	s.Flush()
	if st := s.Stats(); st.SkippedWrites != 2 || st.DiskEntries != 1 || st.DiskErrors != 0 {
		t.Fatalf("stats %+v: want 2 skipped, 1 on disk, no errors", st)
	}
	if got, tier, err := s.Get(long.Key); err != nil || got != long || tier != TierMemory {
		t.Fatalf("long key: %v, %v, %v; want it from memory", got, tier, err)
	}
}

// GetBytesWithin finds what Get finds, in every tier, and keeps nothing of the
// caller's buffer: the LRU touch it queues names the key looked up, even
// once the buffer holds another key.
func TestGetBytesKeepsNoKey(t *testing.T) {
	s, key, _ := lruStore(t)
	buf := []byte(key(0))
	e, tier, err := s.GetBytesWithin(buf, nil)
	if err != nil || tier != TierDisk || e.Key != key(0) {
		t.Fatalf("GetBytesWithin = %v, %v, %v; want %s from disk", e, tier, err, key(0))
	}
	copy(buf, key(1)) // had the touch kept buf, it would now name 1
	s.Flush()
	s.Set(newEntry(key(10), 1000)) // 11 entries: evict down to 9
	s.Flush()
	for i := range 11 {
		_, _, err := s.Get(key(i))
		wantEvicted := i == 1 || i == 2 // the least recently used; 0 was touched
		if gotEvicted := errors.Is(err, ErrNotFound); gotEvicted != wantEvicted {
			t.Errorf("%s evicted = %v, want %v", key(i), gotEvicted, wantEvicted)
		}
	}

	m := openStore(t, Options{})
	m.Set(newEntry("http://h/mem", 10))
	if e, tier, err := m.GetBytesWithin([]byte("http://h/mem"), nil); err != nil || tier != TierMemory || e.Key != "http://h/mem" {
		t.Errorf("GetBytesWithin of a pending or memory entry = %v, %v, %v", e, tier, err)
	}
	if _, _, err := m.GetBytesWithin([]byte("http://h/none"), nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetBytesWithin of a missing key: err = %v, want ErrNotFound", err)
	}
}

// LRU touches from disk hits wait for a transaction of their own (at most
// touchDelay) rather than each burst committing one, and ride along with
// any other write at once. The clock is synctest's: the gets take no time,
// so the check right before touchDelay holds however loaded the machine.
func TestTouchesAreHeldBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := openStore(t, Options{NoMemoryTier: true})
		var batches atomic.Int32
		s.w.batchHook = func() { batches.Add(1) }
		s.Set(newEntry("http://h/touch", 10))
		s.Flush()
		batches.Store(0)
		for range 100 {
			mustGet(t, s, "http://h/touch", TierDisk)
		}
		time.Sleep(touchDelay - time.Millisecond)
		synctest.Wait()
		if n := batches.Load(); n != 0 {
			t.Fatalf("%d write batches for touches alone within %v, want 0", n, touchDelay-time.Millisecond)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait() // the writer has committed and waits again
		if n := batches.Load(); n != 1 {
			t.Fatalf("%d write batches after touchDelay, want 1", n)
		}
	})
}

// Sets arriving one at a time within writeLinger share a transaction (and
// its fsyncs) instead of committing one each; a Flush ends the wait. In a
// synctest bubble, Wait after each Set makes sure the writer has taken it
// before the next comes.
func TestSetsLingerForOneTransaction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := openStore(t, Options{NoMemoryTier: true})
		var batches atomic.Int32
		s.w.batchHook = func() { batches.Add(1) }
		s.w.linger = time.Hour // only the Flush may end the batch
		for i := range 10 {
			s.Set(newEntry(fmt.Sprintf("http://h/linger/%d", i), 10))
			synctest.Wait()
		}
		flushed := make(chan struct{})
		go func() { s.Flush(); close(flushed) }()
		select {
		case <-flushed:
		case <-time.After(10 * time.Second):
			t.Fatal("Flush did not end the writer's wait")
		}
		if n := batches.Load(); n != 1 {
			t.Errorf("%d write batches for 10 Sets within the linger, want 1", n)
		}
		for i := range 10 {
			mustGet(t, s, fmt.Sprintf("http://h/linger/%d", i), TierDisk)
		}
	})
}

// Read your writes against ristretto's asynchronous buffers (issue 11 §6):
// an older value of a key still queued in ristretto (by a Set or by the
// promotion of a disk hit) must not appear once a newer Set of the key has
// returned, whether the newer one fits in memory or not. The test holds
// ristretto's goroutine between queued items (through OnExit on two
// rejected sentinels), so that the old code's window (the older value
// applied after the newer Set returned, before its Del is applied) is open
// at the Get every time.
func TestSetNeverShowsQueuedOlderValue(t *testing.T) {
	for _, how := range []string{"set", "promote"} {
		for _, size := range []int{20, 1 << 20} { // fits; too large for memory
			t.Run(fmt.Sprintf("%s/v2=%dB", how, size), func(t *testing.T) {
				const mem = 1 << 20
				dir := t.TempDir()
				k := "http://h/rw"
				v1, v2 := newEntry(k, 10), newEntry(k, size)
				if how == "promote" { // v1 on disk only
					first := openStore(t, Options{Dir: dir, NoMemoryTier: true})
					first.Set(v1)
					first.Flush()
					if err := first.Close(); err != nil {
						t.Fatal(err)
					}
				}
				s := openStore(t, Options{Dir: dir, NoMemoryTier: mem < 0})
				hold1, hold2 := holdRistretto(t, s.mem)
				if how == "set" {
					s.Set(v1)
				} else {
					mustGet(t, s, k, TierDisk) // queues v1's promotion
				}
				hold2()
				s.Set(v2)
				hold1()
				if got, _, err := s.Get(k); err != nil || got != v2 {
					t.Fatalf("Get after Set(v2) = (older: %v), %v; want v2", got != nil && got != v2, err)
				}
			})
		}
	}
}

// holdRistretto stops m's ristretto goroutine at a rejected sentinel and
// returns two functions: hold2 queues a second sentinel, hold1 lets the
// goroutine go on to the second and returns once it is held there (so what
// was queued between them is applied). A memory.set that waits for the
// queue releases both. Cleanup releases both.
func holdRistretto(t *testing.T, m *memory) (hold1, hold2 func()) {
	t.Helper()
	s1, s2 := &Entry{Key: "sentinel-1"}, &Entry{Key: "sentinel-2"}
	at := map[*Entry]chan struct{}{s1: make(chan struct{}), s2: make(chan struct{})}
	release := map[*Entry]chan struct{}{s1: make(chan struct{}), s2: make(chan struct{})}
	var once [2]sync.Once
	free := func(i int, e *Entry) { once[i].Do(func() { close(release[e]) }) }
	m.exitHook = func(e *Entry) {
		if ch, ok := at[e]; ok {
			close(ch)
			<-release[e]
		}
	}
	m.waitHook = func() { free(0, s1); free(1, s2) }
	t.Cleanup(func() { free(0, s1); free(1, s2) })
	reject := func(e *Entry) { // costlier than the whole cache: rejected
		if !m.cache.Set(e.Key, e, m.cache.MaxCost()+1) {
			t.Fatal("sentinel Set dropped")
		}
	}
	reject(s1)
	<-at[s1]
	return func() { free(0, s1); <-at[s2] }, func() { reject(s2) }
}

// Hits hold their LRU touches beside the writer's queue, not in it: a hot
// body file's memory hits (each touches, so the disk's LRU sees them) and
// disk hits neither fill the queue the Sets need nor wake the writer per
// hit. Here the writer is held in a batch while the hits come: queued one
// per hit as they were, their touches stood in the queue.
func TestHitsQueueNoTouches(t *testing.T) {
	s := openStore(t, Options{FileBodyMin: 1000})
	file := newEntry("http://h/file", 2000)
	s.Set(file)
	s.Set(newEntry("http://h/disk", 10))
	s.Flush()
	s.mem.wait() // the writer put the entry naming the file in memory before Flush returned
	if e, ok := s.mem.get(file.Key); !ok || !e.InFile() {
		t.Fatal("the memory tier does not hold the body file's entry")
	}
	s.mem.del([]string{"http://h/disk"})
	s.mem.wait()

	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	s.w.batchHook = func() { once.Do(func() { close(held); <-release }) }
	s.Set(newEntry("http://h/other", 10)) // the batch the writer is held in
	<-held
	for range 200 {
		mustGet(t, s, file.Key, TierMemory)
	}
	for range 200 {
		if _, _, err := s.Get("http://h/disk"); err != nil {
			t.Fatal(err)
		}
		s.mem.del([]string{"http://h/disk"}) // every Get a disk hit
		s.mem.wait()
	}
	queued, touches := len(s.w.queue), s.w.touches.held.Load()
	close(release)
	if queued != 0 {
		t.Errorf("%d operations queued by 400 hits, want 0", queued)
	}
	if touches != 2 {
		t.Errorf("%d touches held, want 2 (one per key)", touches)
	}
}

// maxHeldTouches distinct keys are written at once, not after touchDelay,
// and touches past the bound are dropped (they are a hint) rather than
// held without limit.
func TestTouchesPastTheBoundAreWrittenAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := openStore(t, Options{NoMemoryTier: true})
		key := func(i int) string { return fmt.Sprintf("http://h/t/%d", i) }
		for i := range maxHeldTouches {
			s.Set(newEntry(key(i), 1))
			if i%256 == 255 {
				s.Flush() // within the queue's length
			}
		}
		s.Flush()
		var batches atomic.Int32
		s.w.batchHook = func() { batches.Add(1) }
		for i := range maxHeldTouches - 1 {
			mustGet(t, s, key(i), TierDisk)
		}
		synctest.Wait()
		if n := batches.Load(); n != 0 {
			t.Fatalf("%d write batches below the bound, want 0", n)
		}
		mustGet(t, s, key(maxHeldTouches-1), TierDisk) // fills the bound
		synctest.Wait()
		if n, held := batches.Load(), s.w.touches.held.Load(); n != 1 || held != 0 {
			t.Fatalf("%d write batches, %d touches held once the bound was reached; want 1, 0", n, held)
		}
	})
}

func TestTouchesPastTheBoundAreDropped(t *testing.T) {
	ts := newTouches()
	for i := range maxHeldTouches {
		if got := ts.add(fmt.Sprint(i)); got != int64(i+1) {
			t.Fatalf("add #%d returned %d, want %d", i, got, i+1)
		}
	}
	if got := ts.add("one more"); got != 0 {
		t.Errorf("add past the bound returned %d, want 0 (dropped)", got)
	}
	if keys := ts.take(); len(keys) != maxHeldTouches || ts.held.Load() != 0 {
		t.Errorf("take returned %d keys and left %d held; want %d and 0", len(keys), ts.held.Load(), maxHeldTouches)
	}
	if got := ts.add("0"); got != 1 {
		t.Errorf("add after take returned %d, want 1", got)
	}
}

// A touch added while the writer takes the held ones, to a stripe it has
// taken already, finds the keys of the stripes still to take held (its add
// returns more than 1) and wakes no one; take then leaves it the only key
// held, with no timer set. It must still be written within touchDelay,
// not wait for the next Set, Flush or the bound, which a node serving
// only hits may never reach.
func TestTouchAddedDuringTakeIsWritten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := openStore(t, Options{NoMemoryTier: true})
		stripe := func(key string) uint64 { return maphash.String(s.w.touches.seed, key) % touchStripes }
		late, early := "", ""
		for i := 0; late == ""; i++ {
			if k := fmt.Sprintf("http://h/late/%d", i); stripe(k) > 0 {
				late = k
			}
		}
		for i := 0; early == ""; i++ {
			if k := fmt.Sprintf("http://h/early/%d", i); stripe(k) < stripe(late) {
				early = k
			}
		}
		s.Set(newEntry(late, 1))
		s.Set(newEntry(early, 1))
		s.Flush()

		mustGet(t, s, late, TierDisk) // held; the writer sets its timer
		synctest.Wait()
		var once sync.Once
		s.w.touches.takeHook = func(i int) {
			if uint64(i) == stripe(early) {
				// The early key's stripe is taken, the late key's not yet.
				once.Do(func() { mustGet(t, s, early, TierDisk) })
			}
		}
		s.Set(newEntry("http://h/other", 1)) // a batch: it takes the touches
		synctest.Wait()
		if n := s.w.touches.held.Load(); n != 1 {
			t.Fatalf("%d touches held after the batch, want 1 (the one added during take)", n)
		}
		time.Sleep(2 * touchDelay)
		synctest.Wait()
		if n := s.w.touches.held.Load(); n != 0 {
			t.Errorf("%d touches still held %v after they were added, want 0: written within touchDelay", n, 2*touchDelay)
		}
	})
}

// A hit on a key in the newer half of the disk's LRU order leaves it
// where it is, and touches that move nothing commit no transaction; a hit
// on a key in the older half moves it to the newest place.
func TestTouchMovesOnlyOlderKeys(t *testing.T) {
	s, key, _ := lruStore(t) // key(0) oldest .. key(9) newest
	position := func(k string) (lru, txid uint64) {
		t.Helper()
		err := s.disk.view(func(tx *bolt.Tx) error {
			ri, ok := parseInfo(tx.Bucket(bucketSeq).Get([]byte(k)))
			if !ok {
				return fmt.Errorf("no rowInfo for %s", k)
			}
			lru, txid = ri.lru, uint64(tx.ID())
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return lru, txid
	}
	recentBefore, txBefore := position(key(8))
	mustGet(t, s, key(8), TierDisk)
	s.Flush()
	if recentAfter, txAfter := position(key(8)); recentAfter != recentBefore || txAfter != txBefore {
		t.Errorf("a hit on a recent key: lru %d -> %d, txid %d -> %d; want both unchanged", recentBefore, recentAfter, txBefore, txAfter)
	}
	oldBefore, _ := position(key(1))
	mustGet(t, s, key(1), TierDisk)
	s.Flush()
	oldAfter, _ := position(key(1))
	newest, _ := position(key(9))
	if oldAfter <= newest {
		t.Errorf("a hit on an old key: lru %d -> %d, want past the newest other key's %d", oldBefore, oldAfter, newest)
	}
}

// Evict removes a key and its derived keys, in both tiers and the pending
// writes, and is no invalidation: the generation does not move, and an
// entry whose fetch began before it is stored fresh.
func TestEvict(t *testing.T) {
	const key = "http://h/a\x00User-Agent:+1:x\n"
	removed := []string{key, key + "\x00encoding br", key + "\x00pending"}
	kept := []string{"http://h/a", key + "more:+1:y\n", "http://h/a\x00User-Agent:+1:z\n"}
	for _, mem := range []int64{0, -1} {
		t.Run(fmt.Sprintf("MemoryBytes=%d", mem), func(t *testing.T) {
			s := openStore(t, Options{NoMemoryTier: mem < 0})
			entry := func(k string) *Entry {
				e := newEntry(k, 10)
				e.Tags = nil // a tag row cannot name a key with a NUL
				return e
			}
			for _, k := range append(removed[:2:2], kept...) {
				s.Set(entry(k))
			}
			s.Flush()
			release := gateWriter(t, s)
			s.Set(entry(removed[2]))
			gen := s.Generation()
			n, err := s.Evict(key)
			if err != nil || n != len(removed) {
				t.Fatalf("Evict = %d, %v; want %d, nil", n, err, len(removed))
			}
			release()
			s.Flush()
			if g := s.Generation(); g != gen {
				t.Errorf("Generation moved from %d to %d", gen, g)
			}
			for _, k := range removed {
				mustMiss(t, s, k)
			}
			for _, k := range kept {
				if _, _, err := s.Get(k); err != nil {
					t.Errorf("Get(%q) = %v, want kept", k, err)
				}
			}
			s.SetFetchedAt(entry(key), gen, time.Time{})
			s.Flush()
			if e, _, err := s.Get(key); err != nil || e.Stale {
				t.Errorf("a fill begun before the eviction: %v, stale %v; want stored fresh", err, e != nil && e.Stale)
			}
		})
	}
}

// PurgedSince tells a purge that may cover an object's keys from one that
// cannot: by its primary key, a prefix, a tag or everything.
func TestPurgedSince(t *testing.T) {
	// manyURLs is more URLs than a matcher holds in a slice (fewFamilies),
	// url among them.
	manyURLs := func(url string) []string {
		keys := []string{url}
		for i := range fewFamilies {
			keys = append(keys, fmt.Sprintf("http://h/many/%d", i))
		}
		return keys
	}
	s := openStore(t, Options{})
	const key = "http://h/a\x00User-Agent:+1:x\n" // a variant of http://h/a
	for _, tc := range []struct {
		name  string
		apply func() error
		want  bool
	}{
		{"nothing", func() error { return nil }, false},
		{"other URL", func() error { _, err := s.Purge(Purge{Keys: []string{"http://h/b"}}); return err }, false},
		{"longer URL", func() error { _, err := s.Purge(Purge{Keys: []string{"http://h/ab"}}); return err }, false},
		{"other host", func() error { _, err := s.Purge(Purge{Prefixes: []string{"http://g/"}}); return err }, false},
		{"other key deleted", func() error { return s.Delete("http://h/b\x00x") }, false},
		{"evicted", func() error { _, err := s.Evict(key); return err }, false},
		{"longer prefix", func() error { _, err := s.Purge(Purge{Prefixes: []string{"http://h/ab"}}); return err }, false},
		{"many other URLs", func() error { _, err := s.Purge(Purge{Keys: manyURLs("http://h/b")}); return err }, false},
		{"many URLs", func() error { _, err := s.Purge(Purge{Keys: manyURLs("http://h/a")}); return err }, true},
		{"variant prefix", func() error { _, err := s.Purge(Purge{Prefixes: []string{"http://h/a\x00User-Agent"}}); return err }, true},
		{"path prefix", func() error { _, err := s.Purge(Purge{Prefixes: []string{"http://h/a"}}); return err }, true},
		{"URL", func() error { _, err := s.Purge(Purge{Keys: []string{"http://h/a"}, Soft: true}); return err }, true},
		{"variant deleted", func() error { return s.Delete("http://h/a\x00other") }, true},
		{"host", func() error { _, err := s.Purge(Purge{Prefixes: []string{"http://h/"}}); return err }, true},
		{"tag", func() error { _, err := s.Purge(Purge{Tags: []string{"t"}}); return err }, true},
		{"all", func() error { _, err := s.Purge(Purge{All: true}); return err }, true},
		{"hidden", func() error { s.Hide(Purge{Keys: []string{"http://h/a"}})(); return nil }, true},
	} {
		gen := s.Generation()
		if err := tc.apply(); err != nil {
			t.Fatal(err)
		}
		if got := s.PurgedSince(key, gen); got != tc.want {
			t.Errorf("%s: PurgedSince = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A write of the evicted key that the writer holds in its transaction
// when Evict begins (taken from the queue, not committed yet) does not
// land after it: Evict waits for that transaction and removes what it
// wrote, on disk and in memory. The write is held inside the transaction
// by a fault hook that blocks and then lets it commit.
func TestEvictRacingStore(t *testing.T) {
	const key = "http://h/a\x00User-Agent:+1:x\n"
	for _, mem := range []int64{0, -1} {
		t.Run(fmt.Sprintf("MemoryBytes=%d", mem), func(t *testing.T) {
			s := openStore(t, Options{NoMemoryTier: mem < 0})
			s.w.linger = 0
			inTx, commit := make(chan struct{}), make(chan struct{})
			var once sync.Once
			hold := func() error {
				once.Do(func() { close(inTx); <-commit })
				return nil
			}
			s.disk.writeFault.Store(&hold)
			t.Cleanup(func() { s.disk.writeFault.Store(nil) })

			e := newEntry(key, 10)
			e.Tags = nil
			s.Set(e)
			<-inTx // the writer's transaction holds e's write
			evicted := make(chan error, 1)
			go func() {
				n, err := s.Evict(key)
				if err == nil && n != 1 {
					err = fmt.Errorf("Evict = %d, want 1", n)
				}
				evicted <- err
			}()
			close(commit)
			if err := <-evicted; err != nil {
				t.Fatal(err)
			}
			s.Flush()
			mustMiss(t, s, key)
			if st := s.Stats(); st.DiskEntries != 0 || st.PendingWrites != 0 {
				t.Errorf("stats %+v: want nothing on disk nor pending", st)
			}
		})
	}
}
