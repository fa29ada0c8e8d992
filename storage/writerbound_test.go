package storage

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
)

// The write queue is bounded in bytes as well as in entries: entries wait
// for the disk only while their total stays within WriteQueueBytes (one
// entry is always taken when none waits).
func TestWriteQueueBytesSkipsWrites(t *testing.T) {
	const body = 300 << 10
	s := openStore(t, Options{MemoryBytes: -1, WriteQueue: 1024, WriteQueueBytes: 1 << 20})
	release := gateWriter(t, s)
	gate, taken := s.w.batchHook, make(chan struct{})
	var once sync.Once
	s.w.batchHook = func() { once.Do(func() { close(taken) }); gate() }
	s.Set(newEntry("http://h/b/0", 4<<20)) // larger than the bound, alone: taken
	<-taken
	if st := s.Stats(); st.SkippedWrites != 0 || st.PendingWrites != 1 {
		t.Fatalf("after one oversized entry: %+v; want it pending, nothing skipped", st)
	}
	for i := 1; i < 10; i++ {
		s.Set(newEntry(fmt.Sprintf("http://h/b/%d", i), body))
	}
	// The oversized entry still waits (its write has not landed), so none
	// of the others fits beside it.
	if st := s.Stats(); st.SkippedWrites != 9 || st.PendingWrites != 1 {
		t.Fatalf("SkippedWrites, PendingWrites = %d, %d; want 9, 1", st.SkippedWrites, st.PendingWrites)
	}
	release()
	s.Flush()
	for i := 1; i < 10; i++ {
		s.Set(newEntry(fmt.Sprintf("http://h/c/%d", i), body))
	}
	// With nothing pending, three 300 KiB entries fit in 1 MiB, a fourth
	// does not (Entry.Size counts a little more than the body).
	if st := s.Stats(); st.PendingWrites > 3 {
		t.Fatalf("PendingWrites = %d, want at most 3 within 1 MiB", st.PendingWrites)
	}
	s.Flush()
	if st := s.Stats(); st.PendingWrites != 0 || s.w.pending.bytes != 0 {
		t.Fatalf("after Flush: %d pending, %d bytes; want none", st.PendingWrites, s.w.pending.bytes)
	}
}

// Shutdown drops what is still queued once its context ends instead of
// writing it all: the store closes in bounded time. In a synctest bubble,
// Wait returns once Shutdown has dropped the queue and waits for the stuck
// writer: no poll of the pending count.
func TestShutdownBoundsDrain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		s, err := Open(Options{Dir: dir, MemoryBytes: -1})
		if err != nil {
			t.Fatal(err)
		}
		gate := make(chan struct{})
		release := sync.OnceFunc(func() { close(gate) })
		defer release() // a failing test lets the writer go, so the bubble can end
		taken := make(chan struct{}, 1)
		s.w.batchHook = func() {
			select {
			case taken <- struct{}{}:
			default:
			}
			<-gate
		}
		s.w.linger = 0
		for i := range 20 {
			s.Set(newEntry(fmt.Sprintf("http://h/s/%d", i), 1000))
		}
		<-taken // the writer is stuck in a batch, as behind a slow disk
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Shutdown(ctx) }()
		cancel()
		// Shutdown drops the queued writes; the stuck batch is let go only
		// then, so nothing queued may still be written.
		synctest.Wait()
		if n := s.Stats().PendingWrites; n > 1 {
			t.Fatalf("%d writes pending once Shutdown's context ended, want at most the stuck batch's", n)
		}
		release()
		if err := <-done; err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		st := s.Stats()
		if st.DiskWrites+st.SkippedWrites != 20 || st.SkippedWrites < 19 {
			t.Fatalf("written %d, skipped %d; want at most 1 written, the rest skipped", st.DiskWrites, st.SkippedWrites)
		}
	})
}
