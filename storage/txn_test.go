package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestLookIsGet: a lookup through the transaction's kept cursor answers
// what bbolt's Get answers, for keys stored, missing (before, between and
// after the stored ones, over several pages), a nested bucket's name, and
// after the transaction's own writes and deletes.
func TestLookIsGet(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "look.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		if _, err := b.CreateBucket([]byte("k0500x")); err != nil {
			return err
		}
		for i := 0; i < 1000; i += 2 { // several leaf pages
			if err := b.Put(fmt.Appendf(nil, "k%04d", i), bytes.Repeat([]byte{byte(i)}, 40)); err != nil {
				return err
			}
		}
		var at *bolt.Cursor
		check := func(step string) {
			t.Helper()
			for i := -1; i <= 1001; i++ {
				k := fmt.Appendf(nil, "k%04d", i)
				if got, want := look(b, &at, k), b.Get(k); !bytes.Equal(got, want) || (got == nil) != (want == nil) {
					t.Errorf("%s: look(%s) = %x, Get = %x", step, k, got, want)
				}
			}
			for _, k := range []string{"k0500x", "a", "z", "k"} {
				if got, want := look(b, &at, []byte(k)), b.Get([]byte(k)); !bytes.Equal(got, want) || (got == nil) != (want == nil) {
					t.Errorf("%s: look(%s) = %x, Get = %x", step, k, got, want)
				}
			}
		}
		check("stored")
		for i := 0; i < 1000; i += 6 {
			if err := b.Delete(fmt.Appendf(nil, "k%04d", i)); err != nil {
				return err
			}
			if err := b.Put(fmt.Appendf(nil, "k%04d", i+1), []byte("new")); err != nil {
				return err
			}
		}
		check("after writes")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBodyFileIndexNamesEachKey: every row of the body files' index names
// the key whose record owns the file, when one transaction stores several
// (apply puts them through one key buffer, whose bytes must not end up as
// another row's value).
func TestBodyFileIndexNamesEachKey(t *testing.T) {
	s := openStore(t, Options{Dir: t.TempDir(), NoMemoryTier: true, FileBodyMin: 1000})
	release := gateWriter(t, s)
	keys := []string{"http://h/first", "http://h/2", "http://h/3", "http://h/four"}
	for _, k := range keys {
		s.Set(newEntry(k, 2000))
	}
	release() // the first Set alone in one batch, the rest in the next
	s.Flush()
	owners := map[string]bool{}
	err := s.disk.view(func(tx *bolt.Tx) error {
		entries := tx.Bucket(bucketEntries)
		return tx.Bucket(bucketFiles).ForEach(func(id, key []byte) error {
			e, err := Decode(entries.Get(key))
			if err != nil || e.file == nil || e.file.id != binary.BigEndian.Uint64(id) {
				t.Errorf("file %x names %q, whose record does not own it (%v)", id, key, err)
			}
			owners[string(key)] = true
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(owners) != len(keys) {
		t.Errorf("the files index names %d keys, want %d", len(owners), len(keys))
	}
}
