package storage

import (
	"bytes"
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"
)

// openStore opens a Store in a fresh temporary directory (unless opts.Dir is
// set) and closes it when the test ends.
func openStore(t testing.TB, opts Options) *Store {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	s, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// reopenedWith stores an entry for each key on disk in dir and returns the
// store reopened there, so that its memory tier is empty.
func reopenedWith(t testing.TB, dir string, keys ...string) *Store {
	t.Helper()
	s := openStore(t, Options{Dir: dir})
	for _, k := range keys {
		s.Set(newEntry(k, 100))
	}
	s.Flush()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return openStore(t, Options{Dir: dir})
}

// newEntry builds a typical response entry with a body of n bytes.
func newEntry(key string, n int) *Entry {
	body := bytes.Repeat([]byte("x"), n)
	return &Entry{
		Key:    key,
		Status: http.StatusOK,
		Header: http.Header{
			"Content-Type":  {"text/plain; charset=utf-8"},
			"Cache-Control": {"public, max-age=60"},
			"Etag":          {`"abc"`},
			"Set-Cookie":    {"a=1", "b=2"},
		},
		Body:         body,
		RequestTime:  time.Unix(1700000000, 123456789),
		ResponseTime: time.Unix(1700000001, 987654321),
		Tags:         []string{"site", "page-" + key},
	}
}

// assertSameEntry fails unless got and want hold the same data (times
// compared as instants).
func assertSameEntry(t testing.TB, got, want *Entry) {
	t.Helper()
	if got == nil || want == nil {
		if got != want {
			t.Fatalf("entry = %v, want %v", got, want)
		}
		return
	}
	if !got.RequestTime.Equal(want.RequestTime) || !got.ResponseTime.Equal(want.ResponseTime) || !got.StaleAt.Equal(want.StaleAt) {
		t.Errorf("times = %v, %v, stale at %v; want %v, %v, %v", got.RequestTime, got.ResponseTime, got.StaleAt, want.RequestTime, want.ResponseTime, want.StaleAt)
	}
	g, w := got.clone(), want.clone() // without derived values
	g.RequestTime, g.ResponseTime, w.RequestTime, w.ResponseTime = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	g.StaleAt, w.StaleAt = time.Time{}, time.Time{}
	for _, e := range []*Entry{g, w} { // a body in a file compares by its bytes
		if e.InFile() {
			b, err := e.ReadBody()
			if err != nil {
				t.Fatalf("ReadBody(%q): %v", e.Key, err)
			}
			e.Body, e.file = b, nil
		}
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("entry mismatch:\n got %s\nwant %s", describe(g), describe(w))
	}
}

func describe(e *Entry) string {
	return fmt.Sprintf("{Key:%q Status:%d Header:%#v Body(%d, nil=%v) Vary:%#v Tags:%#v Stale:%v StaleAt:%v MustRevalidate:%v}",
		e.Key, e.Status, e.Header, len(e.Body), e.Body == nil, e.Vary, e.Tags, e.Stale, e.StaleAt, e.MustRevalidate)
}

// mustGet fails unless key is found in tier.
func mustGet(t testing.TB, s *Store, key string, tier Tier) *Entry {
	t.Helper()
	e, got, err := s.Get(key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if got != tier {
		t.Fatalf("Get(%q) tier = %v, want %v", key, got, tier)
	}
	return e
}

// mustMiss fails unless key is not found.
func mustMiss(t testing.TB, s *Store, key string) {
	t.Helper()
	if e, tier, err := s.Get(key); err != ErrNotFound {
		t.Fatalf("Get(%q) = %v, %v, %v; want ErrNotFound", key, e, tier, err)
	}
}

// gateWriter makes the writer goroutine block at the start of each batch
// until the returned release function is called (once). The writer does
// not linger, so that it blocks holding only the first operation queued.
func gateWriter(t testing.TB, s *Store) (release func()) {
	t.Helper()
	gate := make(chan struct{})
	s.w.batchHook = func() { <-gate }
	s.w.linger = 0
	var released bool
	release = func() {
		if !released {
			released = true
			close(gate)
		}
	}
	t.Cleanup(release)
	return release
}
