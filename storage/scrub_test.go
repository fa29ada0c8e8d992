package storage

import (
	"errors"
	"log/slog"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"edged/internal/logtest"
)

// flipByte changes one byte of the file at path, keeping its size: damage
// only the CRC can see.
func flipByte(t testing.TB, path string, at int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[at] ^= 1
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestScrubDropsDamagedBodyFile: a body file damaged while the node was
// down is found by the scrubber Open starts, before any request: its
// record and file are removed, counted and logged.
func TestScrubDropsDamagedBodyFile(t *testing.T) {
	opts, path := storedBodyFile(t)
	flipByte(t, path, 2000)
	var logs logtest.Buffer
	opts.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	s := openStore(t, opts)
	<-s.sweeping // the sweep, then the scrub, are done
	if st := s.Stats(); st.CorruptDropped != 1 || st.ScrubbedFiles != 0 {
		t.Errorf("CorruptDropped %d, ScrubbedFiles %d; want 1, 0", st.CorruptDropped, st.ScrubbedFiles)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the damaged file survived the scrub: %v", err)
	}
	mustMiss(t, s, "http://h/a")
	if l := logs.Lines(t, "storage: dropping corrupt disk entry"); len(l) != 1 || l[0]["key"] != "http://h/a" {
		t.Errorf("log lines %v, want one naming http://h/a", l)
	}
}

// TestScrubMarksIntactBodyFile: an intact file is verified by the scrubber,
// so that its first hit checks the size alone. The proof: damage made after
// the scrub (which a CRC check would see) passes the open.
func TestScrubMarksIntactBodyFile(t *testing.T) {
	opts, path := storedBodyFile(t)
	s := openStore(t, opts)
	<-s.sweeping
	if st := s.Stats(); st.ScrubbedFiles != 1 || st.CorruptDropped != 0 {
		t.Fatalf("ScrubbedFiles %d, CorruptDropped %d; want 1, 0", st.ScrubbedFiles, st.CorruptDropped)
	}
	flipByte(t, path, 2000)
	f, err := diskEntry(t, s, "http://h/a").OpenBody()
	if err != nil {
		t.Fatalf("OpenBody after the scrub: %v; want the size check alone", err)
	}
	f.Close()
}

// TestScrubPacedAndStoppedByClose: the scrubber reads no faster than
// ScrubBytesPerSecond (synctest's clock: exact however loaded the
// machine), a hit before it reached a file still checks the CRC itself,
// and Close stops it mid-file: synctest.Test fails if any goroutine is
// left behind.
func TestScrubPacedAndStoppedByClose(t *testing.T) {
	const size, rate = 4 << 20, 1 << 20
	dir := t.TempDir()
	opts := Options{Dir: dir, NoMemoryTier: true, FileBodyMin: 1000, NoScrub: true}
	s := openStore(t, opts)
	s.Set(newEntry("http://h/big", size))
	s.Flush()
	path := onlyBodyFile(t, dir)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	flipByte(t, path, size-1)
	synctest.Test(t, func(t *testing.T) {
		opts.NoScrub, opts.ScrubBytesPerSecond = false, rate
		s, err := Open(opts)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		// The burst, then a second's worth: the scrubber is mid-file.
		time.Sleep(time.Second)
		synctest.Wait()
		if st := s.Stats(); st.CorruptDropped != 0 || st.ScrubbedFiles != 0 {
			t.Fatalf("after 1s at %d B/s: CorruptDropped %d, ScrubbedFiles %d; the %d-byte file cannot be read yet", rate, st.CorruptDropped, st.ScrubbedFiles, size)
		}
		// Not reached yet: the hit checks the CRC itself.
		if _, err := diskEntry(t, s, "http://h/big").OpenBody(); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("OpenBody before the scrub reached the file: %v, want ErrCorrupt", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("Close took %v of fake time, want none", d-time.Second)
		}
		// A second scrub, left to finish: paced to within a burst.
		s, err = Open(opts)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		start = time.Now()
		<-s.sweeping
		want := time.Duration(size-scrubBurst) * time.Second / rate
		if d := time.Since(start); d < want || d > want+time.Second {
			t.Errorf("scrub of %d bytes at %d B/s took %v, want about %v", size, rate, d, want)
		}
		if st := s.Stats(); st.CorruptDropped != 1 {
			t.Errorf("CorruptDropped %d, want 1", st.CorruptDropped)
		}
	})
}
