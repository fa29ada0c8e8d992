package storage

import (
	"fmt"
	"testing"
)

// A purge holds from before its disk step: while that step waits for the
// writer's transaction and its fsync (held here inside the purge's own
// transaction), neither the memory tier nor the disk serves what it
// covers, and a disk hit it covers is not promoted (issue 18: the
// propagation time a node paid for its fsync). On the old order (disk
// step, then memory) the memory Get below returned the purged entry.
func TestPurgeHoldsBeforeItsDiskStep(t *testing.T) {
	for _, soft := range []bool{false, true} {
		t.Run(fmt.Sprintf("soft=%v", soft), func(t *testing.T) {
			dir := t.TempDir()
			const inMem, onDisk, other = "http://h/v/mem", "http://h/v/disk", "http://h/v/other"
			s := reopenedWith(t, dir, inMem, onDisk, other)
			mustGet(t, s, inMem, TierDisk) // promoted
			s.mem.wait()
			mustGet(t, s, inMem, TierMemory)

			entered, release := make(chan struct{}), make(chan struct{})
			hold := func() error {
				close(entered)
				<-release
				return nil
			}
			s.disk.writeFault.Store(&hold)
			var released bool
			unblock := func() {
				if !released {
					released = true
					close(release)
				}
			}
			defer unblock() // a failing check must not leave the purge blocked
			done := make(chan error, 1)
			go func() {
				_, err := s.Purge(Purge{Keys: []string{inMem, onDisk}, Soft: soft, Seq: 7})
				done <- err
			}()
			<-entered // the purge is inside its disk transaction
			s.disk.writeFault.Store(nil)
			check := func(when string) {
				t.Helper()
				checkHidden(t, s, soft, when, inMem, onDisk)
			}
			check("during the disk step")
			s.mem.wait()
			if seq, _ := s.AppliedSeq(); seq == 7 {
				t.Fatal("AppliedSeq reports the purge before its disk step")
			}
			mustGet(t, s, other, TierDisk) // what it does not cover is served
			unblock()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			check("after the purge")
			if seq, _ := s.AppliedSeq(); seq != 7 {
				t.Fatalf("AppliedSeq = %d, want 7", seq)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openStore(t, Options{Dir: dir})
			check("after a restart")
		})
	}
}
