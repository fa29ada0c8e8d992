package storage

// Disk faults at runtime (issue "Hardening", Faults): a full or unwritable
// disk must not stop the store. Sets and Gets keep working from memory,
// every failure is counted (edged_storage_disk_errors_total) and logged,
// nothing panics, and writes resume once the disk is writable again.

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"edged/internal/logtest"
)

// injectDiskFault makes every disk write transaction of s fail with err
// until the returned function clears it.
func injectDiskFault(t testing.TB, s *Store, err error) (clear func()) {
	t.Helper()
	f := func() error { return err }
	s.disk.writeFault.Store(&f)
	clear = func() { s.disk.writeFault.Store(nil) }
	t.Cleanup(clear)
	return clear
}

// checkBolt runs bbolt's own consistency check on the closed store file.
func checkBolt(t testing.TB, dir string) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("open for check: %v", err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		var errs []error
		for e := range tx.Check() {
			errs = append(errs, e)
		}
		return errors.Join(errs...)
	})
	if err != nil {
		t.Fatalf("bbolt check: %v", err)
	}
}

func TestDiskFullKeepsServing(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewPedanticRegistry()
	var logs logtest.Buffer
	s := openStore(t, Options{Dir: dir, Registerer: reg,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})

	s.Set(newEntry("http://h/before", 100))
	s.Flush()

	clear := injectDiskFault(t, s, fmt.Errorf("write edged.db: %w", syscall.ENOSPC))
	var during []*Entry
	for i := range 50 {
		e := newEntry(fmt.Sprintf("http://h/during/%d", i), 1000)
		during = append(during, e)
		s.Set(e)
	}
	s.Flush()
	// Read your writes, from memory, although no disk write landed.
	for _, e := range during {
		assertSameEntry(t, mustGet(t, s, e.Key, TierMemory), e)
	}
	// What was on disk before the fault is still readable.
	if _, _, err := s.Get("http://h/before"); err != nil {
		t.Fatalf("Get of an entry stored before the fault: %v", err)
	}
	// A delete fails on disk but reports it; nothing panics.
	if err := s.Delete("http://h/during/0"); err == nil || !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Delete during the fault: err = %v, want ENOSPC", err)
	}

	st := s.Stats()
	if st.DiskErrors == 0 {
		t.Fatalf("stats %+v: no disk error counted", st)
	}
	if st.DiskEntries != 1 || st.PendingWrites != 0 {
		t.Errorf("stats %+v: want 1 disk entry (from before) and no pending write (pending stays bounded)", st)
	}
	if got := gathered(t, reg)["edged_storage_disk_errors_total"]; got != float64(st.DiskErrors) {
		t.Errorf("edged_storage_disk_errors_total = %v, want %d", got, st.DiskErrors)
	}
	if l := logs.String(); !strings.Contains(l, "storage: disk error") || !strings.Contains(l, "no space left on device") {
		t.Errorf("logs do not report the disk error:\n%s", l)
	}

	// Space returns: writes resume without a restart.
	clear()
	errsBefore := s.Stats().DiskErrors
	after := newEntry("http://h/after", 1000)
	s.Set(after)
	s.Set(during[1]) // a write that failed earlier can be written again
	s.Flush()
	if st := s.Stats(); st.DiskEntries != 3 || st.DiskErrors != errsBefore {
		t.Fatalf("after the fault cleared: stats %+v, want 3 disk entries and no new disk error", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkBolt(t, dir)

	// What was written after recovery survives a restart.
	s2 := openStore(t, Options{Dir: dir})
	assertSameEntry(t, mustGet(t, s2, after.Key, TierDisk), after)
	assertSameEntry(t, mustGet(t, s2, during[1].Key, TierDisk), during[1])
	if _, _, err := s2.Get(during[2].Key); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of an entry whose disk write failed, after restart: err = %v, want ErrNotFound", err)
	}
}

// A purge that fails on disk reports the error and does not record its
// sequence, so the purge bus applies it again; meanwhile the disk copy it
// covers is never served (hard) or served only stale (soft), and once the
// disk is writable again the store applies it itself.
func TestPurgeDuringDiskFault(t *testing.T) {
	for _, soft := range []bool{false, true} {
		t.Run(fmt.Sprintf("soft=%v", soft), func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, Options{Dir: dir, Now: purgeClock})
			e, other := newEntry("http://h/p", 100), newEntry("http://h/other", 100)
			s.Set(e)
			s.Set(other)
			s.Flush()

			clear := injectDiskFault(t, s, syscall.EROFS)
			if _, err := s.Purge(Purge{Keys: []string{e.Key}, Soft: soft, Seq: 7}); !errors.Is(err, syscall.EROFS) {
				t.Fatalf("Purge during the fault: err = %v, want EROFS", err)
			}
			if seq, err := s.AppliedSeq(); err != nil || seq != 0 {
				t.Fatalf("AppliedSeq = %d, %v; want 0 (not applied on disk)", seq, err)
			}
			// Twice: a first Get must not promote the disk copy to memory.
			for range 2 {
				got, _, err := s.Get(e.Key)
				switch {
				case !soft && !errors.Is(err, ErrNotFound):
					t.Fatalf("Get after a hard purge that failed on disk: %v, err %v; want ErrNotFound", got, err)
				case soft && (err != nil || !got.Stale || !got.StaleAt.Equal(purgeTime)):
					t.Fatalf("Get after a soft purge that failed on disk: %v, err %v; want an entry stale since the purge", got, err)
				}
			}
			mustGet(t, s, other.Key, TierMemory) // not covered by the purge

			// The disk recovers; the next write applies the purge on disk.
			clear()
			s.Set(newEntry("http://h/later", 10))
			s.Flush()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2 := openStore(t, Options{Dir: dir, Now: purgeClock})
			got, _, err := s2.Get(e.Key)
			switch {
			case !soft && !errors.Is(err, ErrNotFound):
				t.Errorf("after recovery and restart: %v, err %v; want ErrNotFound", got, err)
			case soft && (err != nil || !got.Stale || !got.StaleAt.Equal(purgeTime)):
				t.Errorf("after recovery and restart: %v, err %v; want an entry stale since the purge", got, err)
			}
			// The bus's retry of the same purge succeeds and records Seq.
			if _, err := s2.Purge(Purge{Keys: []string{e.Key}, Soft: soft, Seq: 7}); err != nil {
				t.Fatalf("Purge retried: %v", err)
			}
			if seq, _ := s2.AppliedSeq(); seq != 7 {
				t.Errorf("AppliedSeq = %d, want 7", seq)
			}
		})
	}
}

// Delete and DeletePrefix that fail on disk hide what they cover as well.
func TestDeleteDuringDiskFault(t *testing.T) {
	s := openStore(t, Options{})
	for _, k := range []string{"http://h/a", "http://h/dir/b", "http://h/kept"} {
		s.Set(newEntry(k, 10))
	}
	s.Flush()
	injectDiskFault(t, s, syscall.ENOSPC)
	if err := s.Delete("http://h/a"); err == nil {
		t.Fatal("Delete during the fault: no error")
	}
	if _, err := s.DeletePrefix("http://h/dir/"); err == nil {
		t.Fatal("DeletePrefix during the fault: no error")
	}
	for _, k := range []string{"http://h/a", "http://h/dir/b"} {
		if _, _, err := s.Get(k); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q) after a delete that failed on disk: err = %v, want ErrNotFound", k, err)
		}
	}
	if _, _, err := s.Get("http://h/kept"); err != nil {
		t.Errorf("Get of an entry no delete covered: %v", err)
	}
}

// An Evict that fails on disk hides what it removes there, as a failed
// Purge does, and the store removes it once the disk writes again: an
// evicted Vary variant kept on disk was served again (one variant past the
// edge's cap, and one the edge no longer counts).
func TestEvictDuringDiskFault(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, Options{Dir: dir})
	const key = "http://h/a\x00User-Agent:+1:x\n"
	for _, k := range []string{key, key + "\x00encoding br", "http://h/kept"} {
		e := newEntry(k, 10)
		e.Tags = nil // a tag row cannot name a key with a NUL
		s.Set(e)
	}
	s.Flush()
	clear := injectDiskFault(t, s, syscall.ENOSPC)
	if _, err := s.Evict(key); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Evict during the fault: err = %v, want ENOSPC", err)
	}
	for range 2 { // a first Get must not promote the disk copy
		mustMiss(t, s, key)
		mustMiss(t, s, key+"\x00encoding br")
	}
	mustGet(t, s, "http://h/kept", TierMemory)

	clear()
	s.Set(newEntry("http://h/later", 10)) // a write that succeeds applies the eviction
	s.Flush()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, Options{Dir: dir})
	mustMiss(t, s2, key)
	mustGet(t, s2, "http://h/kept", TierDisk)
}
