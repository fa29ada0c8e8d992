package logtest

import (
	"log/slog"
	"sync"
	"testing"
)

// TestBufferConcurrentLog writes JSON log lines from several goroutines
// while the test reads them (run with -race).
func TestBufferConcurrentLog(t *testing.T) {
	var b Buffer
	log := slog.New(slog.NewJSONHandler(&b, nil))
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			log.Info("hello", "i", i)
			log.Info("other")
		})
	}
	got := b.WaitLines(t, "hello", 4)
	wg.Wait()
	if len(got) != 4 {
		t.Errorf("%d hello lines, want 4", len(got))
	}
	if n := len(b.Lines(t, "")); n != 8 {
		t.Errorf("%d lines in all, want 8", n)
	}
	if b.Writes() != 8 {
		t.Errorf("%d writes, want 8", b.Writes())
	}
}
