//go:build linux

package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A real failing write, not a simulated one: RLIMIT_FSIZE caps the size of
// every file this process writes, so bbolt's growth of edged.db (ftruncate,
// pwrite past the end) fails with EFBIG as it would with ENOSPC on a full
// disk (Go ignores the SIGXFSZ signal). Sets keep working from memory, the
// failures are counted, and once the limit is raised writes resume and the
// file passes bbolt's consistency check.
//
// The limit is process-wide, so this test is not parallel (no parallel test
// runs beside a sequential one) and restores the limit before it returns.
func TestDiskGrowthFailsAtRuntime(t *testing.T) {
	dir := t.TempDir()
	// Bodies in bbolt: the test is about bbolt's file growing.
	s := openStore(t, Options{Dir: dir, NoFileBodies: true})
	s.Set(newEntry("http://h/first", 100))
	// The limit applies to every file the process writes, go test's own
	// log of opened files (-test.testlogfile) included: the file must be
	// larger than that log before its size becomes the limit.
	for i := range 16 {
		s.Set(newEntry(fmt.Sprintf("http://h/before/%d", i), 64<<10))
	}
	s.Flush()
	fi, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() < 1<<20 {
		t.Fatalf("%s is %d bytes; the test needs it at 1 MiB or more", FileName, fi.Size())
	}

	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Skipf("getrlimit: %v", err)
	}
	limit := old
	limit.Cur = uint64(fi.Size())
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limit); err != nil {
		t.Skipf("setrlimit: %v", err)
	}
	restore := func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
			t.Fatalf("restore RLIMIT_FSIZE: %v", err)
		}
	}
	defer restore()

	// 4 MiB of entries cannot fit in the file as it is.
	var during []*Entry
	for i := range 64 {
		e := newEntry(fmt.Sprintf("http://h/full/%d", i), 64<<10)
		during = append(during, e)
		s.Set(e)
	}
	s.Flush()
	for _, e := range during {
		assertSameEntry(t, mustGet(t, s, e.Key, TierMemory), e)
	}
	st := s.Stats()
	restore()
	if st.DiskErrors == 0 {
		t.Fatalf("stats %+v: the file could not grow but no disk error was counted", st)
	}

	after := newEntry("http://h/after", 64<<10)
	s.Set(after)
	s.Flush()
	if got := s.Stats(); got.DiskErrors != st.DiskErrors || got.DiskWrites <= st.DiskWrites {
		t.Fatalf("after the limit was raised: stats %+v (during: %+v): writes did not resume", got, st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkBolt(t, dir)
	s2 := openStore(t, Options{Dir: dir})
	assertSameEntry(t, mustGet(t, s2, after.Key, TierDisk), after)
	mustGet(t, s2, "http://h/first", TierDisk)
}
