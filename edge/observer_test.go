package edge

import (
	"net/http/httptest"
	"testing"
	"time"

	"edged/origin"
	"edged/storage"
)

// Options.Observer sees each finished request once, with its outcome.
func TestObserverSeesEachRequest(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static("x", "Cache-Control", "max-age=60"))
	store, err := storage.Open(storage.Options{Dir: t.TempDir(), Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	up, err := origin.New(origin.Options{Origin: o.URL, Via: "edged"})
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan Observed, 4)
	h, err := New(Options{Name: "edged", Store: store, Upstream: up, Now: c.Now, Observer: func(o Observed) { seen <- o }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	e := &testEdge{Server: srv, handler: h, store: store}
	for _, want := range []string{"miss", "hit"} {
		e.get(t, "/o?q=1")
		select {
		case got := <-seen:
			if got.Cache != want || got.Status != 200 || got.Path != "/o" || !got.Client.IsLoopback() || got.Route != "/" || got.Duration <= 0 {
				t.Errorf("observed %+v, want a %s of /o from loopback on route /", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the observer was not called")
		}
	}
}
