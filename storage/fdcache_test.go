package storage

import (
	"os"
	"path/filepath"
	"testing"
)

// The descriptor cache lends each descriptor to one user at a time, keeps
// at most its bound idle, and closes (never keeps) a descriptor given back
// after its file's id was dropped.
func TestFDCacheLendsExclusivelyAndDrops(t *testing.T) {
	dir := t.TempDir()
	open := func(name string) *os.File {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(name), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := openRegular(p)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	c := newFDCache(2)
	f, e1 := c.take(1)
	if f != nil {
		t.Fatal("an empty cache lent a descriptor")
	}
	a := open("a")
	_, _ = a.Read(make([]byte, 1)) // moved off the start: put rewinds it
	c.put(e1, a)
	got, e1 := c.take(1)
	if got != a {
		t.Fatalf("take after put lent %v, want the kept descriptor", got)
	}
	if again, e := c.take(1); again != nil {
		t.Fatal("one descriptor lent to two users")
	} else {
		c.put(e, nil)
	}
	if pos, _ := got.Seek(0, 1); pos != 0 {
		t.Fatalf("kept descriptor at offset %d, want 0", pos)
	}
	c.drop(1) // removed while lent
	c.put(e1, got)
	if _, err := got.Stat(); err == nil {
		t.Fatal("a descriptor of a dropped id was kept open")
	}
	if f, e := c.take(1); f != nil {
		t.Fatal("a dropped id still lends a descriptor")
	} else {
		c.put(e, nil)
	}

	// Bound: three ids given back, two kept; the oldest is closed.
	var files []*os.File
	for id := uint64(10); id < 13; id++ {
		_, e := c.take(id)
		f := open(filepath.Base(t.Name()) + string(rune('a'+id)))
		files = append(files, f)
		c.put(e, f)
	}
	if c.idle != 2 {
		t.Fatalf("%d idle descriptors, bound 2", c.idle)
	}
	if _, err := files[0].Stat(); err == nil {
		t.Fatal("the least recently used descriptor was not closed")
	}
	c.close()
	for _, f := range files[1:] {
		if _, err := f.Stat(); err == nil {
			t.Fatal("close left a descriptor open")
		}
	}
	if len(c.byID) != 0 || c.idle != 0 {
		t.Fatalf("after close: %d entries, %d idle", len(c.byID), c.idle)
	}
}
