package storage

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestLoweredBudgetShrinksFile: a store filled under one disk budget and
// opened under a smaller one is evicted down to the new budget and its file
// compacted, keeping the newest entries, their body files and the purge
// sequence; with the file within its budget a second open changes nothing.
// Before, the file kept the size it had grown to under the old budget.
func TestLoweredBudgetShrinksFile(t *testing.T) {
	const big, small = 64 << 20, 16 << 20
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	s, err := Open(Options{Dir: dir, NoMemoryTier: true, DiskBytes: big})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1500 // 1400 of 8-40 KiB in bbolt, 100 of 96 KiB in body files
	key := func(i int) string { return fmt.Sprintf("http://h/shrink/%04d", i) }
	for i := range n {
		s.Set(newEntry(key(i), bodyLen(i)))
		if i%32 == 31 {
			s.Flush()
		}
	}
	s.Flush()
	if _, err := s.Purge(Purge{Keys: []string{"http://h/none"}, Seq: 42}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before := sizeOf(t, path)
	if before <= small*2 {
		t.Fatalf("setup: file is %d bytes, want well over the smaller budget %d", before, small)
	}
	// A copy left by a crash during an earlier compaction is removed.
	if err := os.WriteFile(path+compactSuffix, []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}

	s = openStore(t, Options{Dir: dir, NoMemoryTier: true, DiskBytes: small})
	after := sizeOf(t, path)
	files := bodyFileBytes(t, dir)
	t.Logf("file %d -> %d bytes; body files %d bytes; stats %+v", before, after, files, s.Stats())
	if after+files > small*105/100 {
		t.Fatalf("file %d + body files %d bytes after opening with budget %d: not shrunk", after, files, small)
	}
	if _, err := os.Stat(path + compactSuffix); !os.IsNotExist(err) {
		t.Fatalf("partial compaction still there: %v", err)
	}
	if seq, err := s.AppliedSeq(); seq != 42 || err != nil {
		t.Fatalf("AppliedSeq after compaction = %d, %v; want 42", seq, err)
	}
	for _, i := range []int{n - 1, n - 8} { // the newest, in bbolt and in a body file
		e := mustGet(t, s, key(i), TierDisk)
		if e.InFile() != (bodyLen(i) >= DefaultFileBodyMin) || e.BodyLen() != int64(bodyLen(i)) {
			t.Fatalf("Get(%s): InFile=%v, %d bytes; want %d", key(i), e.InFile(), e.BodyLen(), bodyLen(i))
		}
		if e.InFile() {
			f, err := e.OpenBody()
			if err != nil {
				t.Fatalf("Get(%s): its body file: %v", key(i), err)
			}
			f.Close()
		}
	}
	mustMiss(t, s, key(0))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openStore(t, Options{Dir: dir, NoMemoryTier: true, DiskBytes: small})
	if again := sizeOf(t, path); again != after {
		t.Fatalf("file %d bytes at the next open, %d before: a file within its budget was rewritten", again, after)
	}
	mustGet(t, s, key(n-1), TierDisk)
}

func bodyLen(i int) int {
	if i%15 == 7 {
		return 96 << 10
	}
	return 8<<10 + i%33<<10
}

func sizeOf(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func bodyFileBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var total int64
	err := filepath.WalkDir(filepath.Join(dir, bodiesDir), func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			total += fi.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return total
}
