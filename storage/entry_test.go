package storage

import (
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"
)

// TestCloneCopiesEveryField guards clone (which markedStale uses) against a
// field added to Entry but not to clone: every field but derived and
// shared is copied.
func TestCloneCopiesEveryField(t *testing.T) {
	e := &Entry{Key: "k", Status: 203, Header: http.Header{"A": {"b"}}, Body: []byte("x"),
		RequestTime: time.Unix(1, 0), ResponseTime: time.Unix(2, 0), Vary: []string{"Accept"},
		Tags: []string{"t"}, Stale: true, StaleAt: time.Unix(3, 0), MustRevalidate: true}
	e.SetDerived("parsed")
	e.file = &fileRef{id: 1, size: 2, key: e.Key} // a body file goes with the copy: it is the body
	e.shared = true                               // a copy is new: no other Get returns it
	v := reflect.ValueOf(e).Elem()
	for i := range v.NumField() {
		if f := v.Type().Field(i); f.IsExported() && v.Field(i).IsZero() {
			t.Fatalf("the test leaves Entry.%s zero: set it", f.Name)
		}
	}
	c := e.clone()
	cv := reflect.ValueOf(c).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if f.Name == "derived" {
			continue
		}
		if f.Name == "shared" {
			if c.shared {
				t.Errorf("clone copied Entry.shared")
			}
			continue
		}
		if f.Name == "file" {
			if c.file != e.file {
				t.Errorf("clone did not copy Entry.file")
			}
			continue
		}
		if !f.IsExported() {
			t.Fatalf("unexported Entry.%s: decide whether clone copies it", f.Name)
		}
		if !reflect.DeepEqual(cv.Field(i).Interface(), v.Field(i).Interface()) {
			t.Errorf("clone did not copy Entry.%s", f.Name)
		}
	}
	if c.Derived() != nil {
		t.Errorf("clone kept the derived value %v", c.Derived())
	}
}

// TestSetDerivedOnce: the first value set wins, from any goroutine.
func TestSetDerivedOnce(t *testing.T) {
	e := &Entry{}
	if e.Derived() != nil {
		t.Fatalf("new entry has derived value %v", e.Derived())
	}
	var wg sync.WaitGroup
	got := make([]any, 8)
	for i := range got {
		wg.Go(func() { got[i] = e.SetDerived(i) })
	}
	wg.Wait()
	for i, v := range got {
		if v != e.Derived() {
			t.Errorf("SetDerived(%d) returned %v, cached %v", i, v, e.Derived())
		}
	}
}
