package storage

import (
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// A lingering batch stops waiting once the entries waiting for the disk
// fill a transaction (batchBytes): waiting on would only hold their memory
// for the linger, and the next Sets would find the queue's bytes full and
// be skipped. Here a transaction holds more than one entry and less than
// two: the second Set ends the wait without a Flush.
func TestLingerEndsAtTransactionBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		size := newEntry("http://h/bytes/0", 1000).Size()
		s := openStore(t, Options{NoMemoryTier: true, WriteQueueBytes: 4 * (size + 1)})
		if got := s.w.batchBytes(); got != size+1 {
			t.Fatalf("batchBytes = %d, want %d", got, size+1)
		}
		var batches atomic.Int32
		s.w.batchHook = func() { batches.Add(1) }
		s.w.linger = time.Hour // only the bytes may end the batch
		s.Set(newEntry("http://h/bytes/0", 1000))
		synctest.Wait()
		if n := batches.Load(); n != 0 {
			t.Fatalf("%d write batches with one entry waiting, want 0 (lingering)", n)
		}
		s.Set(newEntry("http://h/bytes/1", 1000))
		synctest.Wait()
		if n := batches.Load(); n != 1 {
			t.Fatalf("%d write batches once a transaction's bytes waited, want 1", n)
		}
		if st := s.Stats(); st.DiskEntries != 2 || st.SkippedWrites != 0 {
			t.Errorf("DiskEntries = %d, SkippedWrites = %d, want 2 and 0", st.DiskEntries, st.SkippedWrites)
		}
		for i := range 2 {
			mustGet(t, s, fmt.Sprintf("http://h/bytes/%d", i), TierDisk)
		}
	})
}

// A writer that fell behind (here held at its first batch while 40 Sets
// queued) drains its backlog in transactions of batchBytes, not one entry
// each: the fuller its queue, the more each transaction must take, or the
// queue never empties under steady misses and Sets are skipped.
func TestBacklogDrainsInFullTransactions(t *testing.T) {
	size := newEntry("http://h/backlog/0", 1000).Size()
	s := openStore(t, Options{NoMemoryTier: true, WriteQueueBytes: 64 * size})
	gate := make(chan struct{})
	var batches atomic.Int32
	s.w.batchHook = func() { batches.Add(1); <-gate }
	s.w.linger = 0
	const n = 40
	for i := range n {
		s.Set(newEntry(fmt.Sprintf("http://h/backlog/%d", i), 1000))
	}
	close(gate)
	s.Flush()
	// The first batch held only the first Set; the other 39 wait, more
	// than two transactions' bytes (batchBytes is 16 entries here).
	if got := batches.Load(); got > 3 {
		t.Errorf("%d write batches for a backlog of %d Sets, want at most 3", got, n)
	}
	if st := s.Stats(); st.DiskEntries != n || st.SkippedWrites != 0 {
		t.Errorf("DiskEntries = %d, SkippedWrites = %d, want %d and 0", st.DiskEntries, st.SkippedWrites, n)
	}
}

// A lingering writer does not take each Set as it comes (a goroutine
// switch per miss): the Sets wait in the queue until the linger ends, the
// queue holds a batch, or a Flush comes, and then go in one transaction.
func TestLingerLeavesSetsQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := openStore(t, Options{NoMemoryTier: true})
		var batches atomic.Int32
		s.w.batchHook = func() { batches.Add(1) }
		s.w.linger = time.Hour
		s.Set(newEntry("http://h/queued/0", 100))
		synctest.Wait() // the writer took it and lingers
		for i := 1; i <= 10; i++ {
			s.Set(newEntry(fmt.Sprintf("http://h/queued/%d", i), 100))
		}
		synctest.Wait()
		if n := len(s.w.queue); n != 10 {
			t.Fatalf("%d Sets queued while the writer lingers, want 10 (left for the batch's end)", n)
		}
		s.Flush()
		if n := batches.Load(); n != 1 {
			t.Errorf("%d write batches, want 1", n)
		}
		for i := range 11 {
			mustGet(t, s, fmt.Sprintf("http://h/queued/%d", i), TierDisk)
		}
	})
}

// The linger ends once the queue holds a batch: maxBatchOps operations
// with the default queue, half a small queue, so that the Sets arriving
// meanwhile still find room and none is skipped.
func TestLingerEndsAtFullQueue(t *testing.T) {
	for _, queue := range []int{0, 8} {
		t.Run(fmt.Sprintf("queue=%d", queue), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := openStore(t, Options{NoMemoryTier: true, WriteQueue: queue})
				var batches atomic.Int32
				s.w.batchHook = func() { batches.Add(1) }
				s.w.linger = time.Hour // only a full batch may end it
				n := maxBatchOps
				if queue > 0 {
					n = 5 * queue
				}
				for i := range n {
					s.Set(newEntry(fmt.Sprintf("http://h/full/%d", i), 100))
					synctest.Wait()
				}
				if b := batches.Load(); b == 0 {
					t.Fatalf("no write batch after %d Sets, want the full queue to end the linger", n)
				}
				if st := s.Stats(); st.SkippedWrites != 0 {
					t.Errorf("SkippedWrites = %d, want 0", st.SkippedWrites)
				}
				s.Flush()
				for i := range n {
					mustGet(t, s, fmt.Sprintf("http://h/full/%d", i), TierDisk)
				}
			})
		})
	}
}
