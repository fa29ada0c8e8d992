package storage

import (
	"testing"
)

func TestFamily(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	const k = "http://a.test/x"
	stub := newEntry(k, 0)
	stub.Vary = []string{"Accept-Encoding"}
	for _, e := range []*Entry{stub, newEntry(k+"\x00Accept-Encoding:+4:gzip\n", 100), newEntry(k+"\x00ce=br", 50), newEntry(k+"2", 10), newEntry("http://a.test/w", 10)} {
		e.Tags = []string{"t1"}
		s.Set(e)
	}
	s.Flush()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopened: the memory tier is empty, everything is on disk.
	s = openStore(t, Options{Dir: dir})
	held, more, err := s.Family(k, 0)
	if err != nil || more {
		t.Fatalf("Family: %v, more %v", err, more)
	}
	var keys []string
	for _, h := range held {
		keys = append(keys, h.Entry.Key)
		if !h.Disk || h.Memory || h.Entry.Body != nil || h.Entry.Tags[0] != "t1" {
			t.Errorf("%q: %+v", h.Entry.Key, h)
		}
	}
	want := []string{k, k + "\x00Accept-Encoding:+4:gzip\n", k + "\x00ce=br"}
	if len(keys) != len(want) || keys[0] != want[0] || keys[1] != want[1] || keys[2] != want[2] {
		t.Fatalf("keys %q, want %q (not k2, not another URL)", keys, want)
	}
	if held[0].Entry.Vary[0] != "Accept-Encoding" || held[1].BodyLen != 100 {
		t.Errorf("stub %+v, variant body %d", held[0].Entry, held[1].BodyLen)
	}
	// Family promoted nothing: the next Get still finds the disk.
	if _, tier, err := s.Get(k + "\x00ce=br"); err != nil || tier != TierDisk {
		t.Errorf("Get after Family: tier %v, %v; want disk", tier, err)
	}
	if h, _, _ := s.Family(k+"\x00ce=br", 0); len(h) != 1 || !h[0].Memory || !h[0].Disk {
		t.Errorf("after a Get promoted it: %+v", h)
	}

	if _, err := s.Purge(Purge{Keys: []string{k}, Soft: true}); err != nil {
		t.Fatal(err)
	}
	held, _, _ = s.Family(k, 0)
	for _, h := range held {
		if !h.Entry.Stale {
			t.Errorf("%q not stale after a soft purge", h.Entry.Key)
		}
	}
	if held, more, _ := s.Family(k, 2); len(held) != 2 || !more {
		t.Errorf("limit 2: %d entries, more %v", len(held), more)
	}
	if _, err := s.Purge(Purge{Keys: []string{k}}); err != nil {
		t.Fatal(err)
	}
	if held, _, _ := s.Family(k, 0); len(held) != 0 {
		t.Errorf("after a hard purge: %+v", held)
	}
}
