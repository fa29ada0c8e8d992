package storage

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// The disk budget bounds the bbolt file, not only the stored bytes: page
// overhead, free pages and the file's growth step included, it stays
// within 5% of the budget however much passes through it.
func TestDiskBudgetBoundsFile(t *testing.T) {
	const budget = 16 << 20
	dir := t.TempDir()
	s := openStore(t, Options{Dir: dir, NoMemoryTier: true, DiskBytes: budget, WriteQueueBytes: 2 << 20})
	rng := rand.New(rand.NewPCG(1, 2))
	var written int64
	for i := 0; written < 4*budget; i++ {
		// 4-132 KiB, so that freed runs of pages rarely fit the next value
		// exactly; small batches (WriteQueueBytes) as beside a large budget.
		n := 4<<10 + rng.IntN(128<<10)
		s.Set(newEntry(fmt.Sprintf("http://h/budget/%d", i), n))
		written += int64(n)
		if i%16 == 15 {
			s.Flush()
		}
	}
	s.Flush()
	fi, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	t.Logf("file %d bytes, stored %d bytes in %d entries, %d evictions, budget %d", fi.Size(), st.DiskBytes, st.DiskEntries, st.DiskEvictions, budget)
	if limit := int64(budget) * 105 / 100; fi.Size() > limit {
		t.Fatalf("file is %d bytes, budget %d (+5%% = %d)", fi.Size(), budget, limit)
	}
	if st.DiskBytes < budget*4/10 {
		t.Fatalf("stored %d bytes: eviction keeps far less than the budget %d", st.DiskBytes, budget)
	}
}
