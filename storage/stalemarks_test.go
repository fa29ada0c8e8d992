package storage

import (
	"testing"

	bolt "go.etcd.io/bbolt"
)

// The markers of a soft purge of everything that a Get reads from memory
// are those of its own file: a file that replaced a damaged one has its
// own (none), whose entries' write sequences start again from 1, below
// the old file's marker.
func TestStaleMarksFollowTheFile(t *testing.T) {
	s := openStore(t, Options{NoMemoryTier: true})
	for _, k := range []string{"http://h/m/1", "http://h/m/2", "http://h/m/3"} {
		s.Set(newEntry(k, 100))
	}
	s.Flush()
	if _, err := s.Purge(Purge{All: true, Soft: true}); err != nil {
		t.Fatal(err)
	}
	if e := mustGet(t, s, "http://h/m/1", TierDisk); !e.Stale {
		t.Fatal("not stale after a soft purge of everything")
	}
	s.disk.setAside(s.disk.db.Load(), &damageError{cause: "test"})
	// A write that does not go through disk.update publishes nothing: the
	// Get reads the new file's own meta bucket.
	fresh := newEntry("http://h/m/new", 100)
	s.disk.absent.add([]byte(fresh.Key)) // as disk.apply does before a put
	s.w.locked(func() {
		err := updateTx(s.disk.db.Load(), func(tx *bolt.Tx) error {
			return newTxn(tx).put([]byte(fresh.Key), Encode(fresh), nil, nil)
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	if e := mustGet(t, s, fresh.Key, TierDisk); e.Stale {
		t.Fatal("an entry of the new file is stale by the old file's marker")
	}
}
