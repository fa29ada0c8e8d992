package storage

import "testing"

// A purge's early step runs without the writer's lock, so it can find a
// write the writer has taken but not yet committed. A soft purge must keep
// a stale copy readable until the write lands: for a moment the entry was
// neither pending nor on disk, and a Get missed an object the purge only
// marked (TestConcurrentPurges caught it now and then).
func TestPendingTakenWriteUnderPurge(t *testing.T) {
	for _, soft := range []bool{true, false} {
		p := newPendingWrites(1 << 20)
		queue := make(chan op, 1)
		e := tagged("http://h/k", "t")
		if !p.add(e, queue) {
			t.Fatal("add refused")
		}
		var b batch
		var flushes []chan struct{}
		p.take([]op{<-queue}, &b, &flushes, 1<<20)
		if len(b.sets) != 1 || b.sets[0].e != e {
			t.Fatalf("take = %+v, want the entry", b.sets)
		}
		p.purge(newMatcher(Purge{Tags: []string{"t"}, Soft: soft}), soft)
		got := p.get(e.Key)
		switch {
		case soft && (got == nil || !got.Stale):
			t.Fatalf("soft purge of a taken write: pending has %v, want a stale copy until it lands", got)
		case !soft && got != nil:
			t.Fatalf("hard purge of a taken write: pending still has %v", got)
		}
		p.release(b.sets)
		if got := p.get(e.Key); got != nil || p.size() != 0 {
			t.Fatalf("after the write landed: pending has %v, %d bytes; want nothing", got, p.size())
		}
	}
}
