package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// bodyFileCount counts the files under dir/bodies.
func bodyFileCount(t testing.TB, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(dir, bodiesDir), func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// diskEntry reads key from a store without a memory tier: what the disk holds.
func diskEntry(t testing.TB, s *Store, key string) *Entry {
	t.Helper()
	return mustGet(t, s, key, TierDisk)
}

// TestBodyFileRoundTrip: a body at FileBodyMin or larger is kept in a file
// of its own, read back whole through OpenBody and ReadBody, also after a
// restart (when the first open checks the CRC); smaller ones stay in bbolt.
func TestBodyFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, NoMemoryTier: true, FileBodyMin: 1000}
	s := openStore(t, opts)
	big, small := newEntry("http://h/big", 5000), newEntry("http://h/small", 999)
	big.Body[0], big.Body[4999] = 'a', 'z'
	s.Set(big)
	s.Set(small)
	s.Flush()
	if n := bodyFileCount(t, dir); n != 1 {
		t.Fatalf("%d body files, want 1", n)
	}
	for round := range 2 {
		got := diskEntry(t, s, big.Key)
		if !got.InFile() || got.Body != nil || got.BodyLen() != 5000 {
			t.Fatalf("round %d: big entry InFile=%v Body(%d) BodyLen=%d; want a file of 5000 bytes", round, got.InFile(), len(got.Body), got.BodyLen())
		}
		assertSameEntry(t, got, big)
		f, err := got.OpenBody()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(f)
		f.Close()
		if err != nil || !bytes.Equal(b, big.Body) {
			t.Fatalf("OpenBody read %d bytes, %v; want the body", len(b), err)
		}
		if e := diskEntry(t, s, small.Key); e.InFile() {
			t.Fatalf("a 999-byte body went to a file")
		}
		if round == 0 { // again after a restart: the CRC is checked at the first open
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openStore(t, opts)
		}
	}
	if st := s.Stats(); st.DiskBytes < 5000 {
		t.Errorf("DiskBytes = %d, want the body file's 5000 bytes counted", st.DiskBytes)
	}
}

// TestBodyFileRemovedWithRecord: every way a record leaves the disk (a
// replacing write, Delete, DeletePrefix, a purge by key, prefix, tag, or of
// everything, eviction) takes its body file with it; a soft purge keeps it.
func TestBodyFileRemovedWithRecord(t *testing.T) {
	cases := []struct {
		name   string
		remove func(s *Store)
		left   int // body files left of the two written
	}{
		{"replaced", func(s *Store) { s.Set(newEntry("http://h/a", 3000)) }, 2},
		{"replaced small", func(s *Store) { s.Set(newEntry("http://h/a", 10)) }, 1},
		{"delete", func(s *Store) { _ = s.Delete("http://h/a") }, 1},
		{"delete prefix", func(s *Store) { _, _ = s.DeletePrefix("http://h/") }, 0},
		{"purge key", func(s *Store) { _, _ = s.Purge(Purge{Keys: []string{"http://h/b"}}) }, 1},
		{"purge prefix", func(s *Store) { _, _ = s.Purge(Purge{Prefixes: []string{"http://h/"}}) }, 0},
		{"purge tag", func(s *Store) { _, _ = s.Purge(Purge{Tags: []string{"page-http://h/a"}}) }, 1},
		{"purge all", func(s *Store) { _, _ = s.Purge(Purge{All: true}) }, 0},
		{"soft purge", func(s *Store) { _, _ = s.Purge(Purge{Prefixes: []string{"http://h/"}, Soft: true}) }, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, Options{Dir: dir, NoMemoryTier: true, FileBodyMin: 1000})
			s.Set(newEntry("http://h/a", 2000))
			s.Set(newEntry("http://h/b", 2000))
			s.Flush()
			c.remove(s)
			s.Flush()
			if n := bodyFileCount(t, dir); n != c.left {
				t.Fatalf("%d body files left, want %d", n, c.left)
			}
			for _, k := range []string{"http://h/a", "http://h/b"} {
				e, _, err := s.Get(k)
				if err != nil {
					continue
				}
				if _, err := e.ReadBody(); err != nil {
					t.Errorf("%s is still stored but its body is unreadable: %v", k, err)
				}
			}
		})
	}
}

// TestBodyFileEviction: body files count toward DiskBytes, and eviction
// keeps the total (bbolt's rows and the files) within it.
func TestBodyFileEviction(t *testing.T) {
	dir := t.TempDir()
	const budget = 1 << 20
	s := openStore(t, Options{Dir: dir, NoMemoryTier: true, DiskBytes: budget, FileBodyMin: 1000})
	for i := range 40 {
		s.Set(newEntry(fmt.Sprintf("http://h/%d", i), 100<<10))
		s.Flush()
	}
	var files int64
	_ = filepath.WalkDir(filepath.Join(dir, bodiesDir), func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				files += fi.Size()
			}
		}
		return nil
	})
	if files > budget {
		t.Fatalf("body files hold %d bytes, over the %d-byte budget", files, budget)
	}
	if st := s.Stats(); st.DiskEvictions == 0 || st.DiskBytes > budget {
		t.Fatalf("evictions %d, disk bytes %d; want evictions and at most %d", st.DiskEvictions, st.DiskBytes, budget)
	}
	mustGet(t, s, "http://h/39", TierDisk) // the newest stays
}

// TestBodyFileDamageDetected: a body file whose bytes changed while the
// node was down, or whose size changed at any time, is an error wrapping
// ErrCorrupt, never a body.
func TestBodyFileDamageDetected(t *testing.T) {
	opts, path := storedBodyFile(t)
	opts.NoScrub = true // the first open finds the damage, not the scrubber
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[2000] ^= 1
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, opts)
	e := diskEntry(t, s, "http://h/a")
	if _, err := e.OpenBody(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("OpenBody of a flipped bit: %v, want ErrCorrupt", err)
	}
	if _, err := e.ReadBody(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ReadBody of a flipped bit: %v, want ErrCorrupt", err)
	}
	// Truncation is caught by the size check, at every open.
	s.Set(newEntry("http://h/b", 4000))
	s.Flush()
	e = diskEntry(t, s, "http://h/b")
	if err := os.Truncate(e.file.files.path(e.file.id), 100); err != nil {
		t.Fatal(err)
	}
	if _, err := e.OpenBody(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("OpenBody of a truncated file: %v, want ErrCorrupt", err)
	}
}

// storedBodyFile stores http://h/a with a 4000-byte body in a file and
// closes the store; it returns the store's options and the file's path.
func storedBodyFile(t *testing.T) (Options, string) {
	t.Helper()
	opts := Options{Dir: t.TempDir(), NoMemoryTier: true, FileBodyMin: 1000}
	s := openStore(t, opts)
	s.Set(newEntry("http://h/a", 4000))
	s.Flush()
	path := onlyBodyFile(t, opts.Dir)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return opts, path
}

func onlyBodyFile(t testing.TB, dir string) string {
	t.Helper()
	var found []string
	_ = filepath.WalkDir(filepath.Join(dir, bodiesDir), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			found = append(found, p)
		}
		return nil
	})
	if len(found) != 1 {
		t.Fatalf("body files %v, want one", found)
	}
	return found[0]
}

// TestBodyFileOrphansSwept: files no record names (a crash between a
// file's write and its record's commit, or between a removal and the
// unlink) and stray names are removed by the sweep Open starts; the files
// records name stay.
func TestBodyFileOrphansSwept(t *testing.T) {
	opts, kept := storedBodyFile(t)
	dir := opts.Dir
	orphan := filepath.Join(dir, bodiesDir, "ab", "ab00000000000001")
	stray := filepath.Join(dir, bodiesDir, "ab", "partial.tmp")
	for _, p := range []string{orphan, stray} {
		if err := os.WriteFile(p, []byte("left behind"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := openStore(t, opts)
	<-s.sweeping
	for _, p := range []string{orphan, stray} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s survived the sweep: %v", p, err)
		}
	}
	if _, err := os.Stat(kept); err != nil {
		t.Fatalf("the sweep removed a file a record names: %v", err)
	}
	assertSameEntry(t, diskEntry(t, s, "http://h/a"), newEntry("http://h/a", 4000))
}

// TestBodyFileRefreshKeepsFile: an entry built from a stored one with new
// header fields (a 304's refresh) shares its body file; storing it keeps
// the file, and the entry read before the write stays readable.
func TestBodyFileRefreshKeepsFile(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, Options{Dir: dir, NoMemoryTier: true, FileBodyMin: 1000})
	orig := newEntry("http://h/a", 4000)
	s.Set(orig)
	s.Flush()
	old := diskEntry(t, s, orig.Key)
	fresh := &Entry{Key: old.Key, Status: old.Status, Header: old.Header.Clone(), RequestTime: old.RequestTime, ResponseTime: old.ResponseTime, Tags: old.Tags}
	fresh.Header.Set("Etag", `"def"`)
	fresh.ShareBody(old)
	s.Set(fresh)
	s.Flush()
	if n := bodyFileCount(t, dir); n != 1 {
		t.Fatalf("%d body files after the refresh, want the one shared", n)
	}
	got := diskEntry(t, s, orig.Key)
	if got.Header.Get("Etag") != `"def"` {
		t.Fatalf("refreshed entry has Etag %q", got.Header.Get("Etag"))
	}
	for _, e := range []*Entry{old, got} {
		if b, err := e.ReadBody(); err != nil || !bytes.Equal(b, orig.Body) {
			t.Fatalf("body after the refresh: %d bytes, %v", len(b), err)
		}
	}
	// Under another key the body gets a file of its own, so purging one
	// key leaves the other readable.
	copied := &Entry{Key: "http://h/b", Status: 200, Header: old.Header}
	copied.ShareBody(old)
	s.Set(copied)
	s.Flush()
	if _, err := s.Purge(Purge{Keys: []string{orig.Key}}); err != nil {
		t.Fatal(err)
	}
	if b, err := diskEntry(t, s, "http://h/b").ReadBody(); err != nil || !bytes.Equal(b, orig.Body) {
		t.Fatalf("copy under another key after the original's purge: %d bytes, %v", len(b), err)
	}
}

// TestBodyFileSwappedIntoMemory: once a large body's file is written, the
// memory tier holds the entry that names it instead of the bytes (the page
// cache holds those), hits on it keep the disk copy recent, and a purge
// removes both.
func TestBodyFileSwappedIntoMemory(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, Options{Dir: dir, MemoryBytes: 64 << 20, FileBodyMin: 1000})
	orig := newEntry("http://h/a", 50_000)
	s.Set(orig)
	s.Flush()
	s.mem.cache.Wait()
	e := mustGet(t, s, orig.Key, TierMemory)
	if !e.InFile() || e.Body != nil {
		t.Fatalf("memory tier holds Body(%d), InFile=%v; want the entry naming the file", len(e.Body), e.InFile())
	}
	assertSameEntry(t, e, orig)
	if st := s.Stats(); st.MemoryBytes >= 50_000 {
		t.Errorf("memory tier counts %d bytes for a 50 KB body it no longer holds", st.MemoryBytes)
	}
	if _, err := s.Purge(Purge{Keys: []string{orig.Key}}); err != nil {
		t.Fatal(err)
	}
	mustMiss(t, s, orig.Key)
	s.Flush()
	if n := bodyFileCount(t, dir); n != 0 {
		t.Fatalf("%d body files after the purge", n)
	}
}
