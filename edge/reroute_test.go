package edge

import (
	"io"
	"net/http"
	"reflect"
	"testing"

	"edged/origin"
)

// closed reports whether ch is closed, without waiting.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TestRerouteFinishesOnOldRoutes: after Reroute, new requests go to the new
// upstream while a request under way finishes on the old one, and the old
// routes are reported retired only once it has ended.
func TestRerouteFinishesOnOldRoutes(t *testing.T) {
	c := newClock()
	g := newGate()
	t.Cleanup(g.open)
	arrived := make(chan struct{}, 1)
	a := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			arrived <- struct{}{}
			g.wait()
		}
		_, _ = io.WriteString(w, "a")
	})
	b := newOrigin(t, c, static("b"))
	e := newEdge(t, c, edgeConfig{upstream: a.URL})

	slow := make(chan string, 1)
	go func() {
		_, body := e.get(t, "/slow")
		slow <- body
	}()
	<-arrived
	if _, err := e.handler.Reroute(nil, nil, nil); err == nil {
		t.Error("Reroute with neither a Router nor an upstream was accepted")
	}
	retired, err := e.handler.Reroute(nil, upstreamTo(t, b.URL), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, body := e.get(t, "/new"); body != "b" {
		t.Errorf("a request after Reroute was answered %q, want the new upstream's b", body)
	}
	if closed(retired) {
		t.Fatal("the old routes were retired while a request still used them")
	}
	g.open()
	if body := <-slow; body != "a" {
		t.Errorf("the request under way was answered %q, want the old upstream's a", body)
	}
	<-retired // closed once the request has ended; the test times out otherwise
}

// TestRerouteWaitsForDetachedFetch: a fetch goes on after its client left;
// the routes it started on are retired only when it ends, since it still
// uses their upstream client.
func TestRerouteWaitsForDetachedFetch(t *testing.T) {
	c := newClock()
	g := newGate()
	t.Cleanup(g.open)
	arrived := make(chan struct{}, 1)
	a := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		g.wait()
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = io.WriteString(w, "a")
	})
	e := newEdge(t, c, edgeConfig{upstream: a.URL})
	leaveDuringFetch(t, e, "/slow", arrived)
	retired, err := e.handler.Reroute(nil, upstreamTo(t, a.URL), nil)
	if err != nil {
		t.Fatal(err)
	}
	if closed(retired) {
		t.Fatal("the old routes were retired while a fetch started on them was running")
	}
	g.open()
	<-retired
	e.waitTasks(t)
}

type closeCounter struct{ n int }

func (c *closeCounter) Close() { c.n++ }

// TestCloseFields: Router.Close closes each part of a route that has a
// Close method once, whatever field holds it, and leaves upstream clients
// to their owner.
func TestCloseFields(t *testing.T) {
	shared, own := &closeCounter{}, &closeCounter{}
	type parts struct {
		A, B     *closeCounter
		C        interface{ Close() }
		Nil      *closeCounter
		Upstream *origin.Client
		hidden   *closeCounter
	}
	up := upstreamTo(t, "http://127.0.0.1:1")
	hidden := &closeCounter{}
	seen := make(map[any]bool)
	closeFields(reflect.ValueOf(&parts{A: shared, B: shared, C: own, Upstream: up, hidden: hidden}).Elem(), seen)
	closeFields(reflect.ValueOf(&parts{A: shared}).Elem(), seen) // another route sharing it
	if shared.n != 1 || own.n != 1 || hidden.n != 0 {
		t.Errorf("closed shared %d, own %d, unexported %d times; want 1, 1, 0", shared.n, own.n, hidden.n)
	}
	if seen[up] {
		t.Error("the upstream client was taken for a part of the route")
	}
	rt, err := NewRouter([]*Site{{Name: "s", Hosts: []string{"a.test", "*.a.test"}, Routes: []*Route{{PathPrefix: "/", Upstream: up}}}})
	if err != nil {
		t.Fatal(err)
	}
	rt.Close() // nothing to close on these routes; it must not touch the client
}

// TestRerouteForgetsRemovedRouteSeries: a reload that removes a route
// deletes its request series once the old routes have drained; a route the
// new configuration keeps (same site and prefix, a new Route) counts on in
// its series, and a site removed whole loses its series too.
func TestRerouteForgetsRemovedRouteSeries(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static("x"))
	sites := func(withB bool) []*Site {
		www := &Site{Name: "www", Hosts: []string{"www.example"}, Routes: []*Route{{PathPrefix: "/a/", Upstream: upstreamTo(t, o.URL)}}}
		if !withB {
			return []*Site{www}
		}
		www.Routes = append(www.Routes, &Route{PathPrefix: "/b/", Upstream: upstreamTo(t, o.URL)})
		return []*Site{www, {Name: "old", Hosts: []string{"old.example"}, Routes: []*Route{{PathPrefix: "/", Upstream: upstreamTo(t, o.URL)}}}}
	}
	e := routedEdge(t, c, sites(true)...)
	for _, req := range [][2]string{{"www.example", "/a/1"}, {"www.example", "/b/1"}, {"old.example", "/x"}} {
		e.get(t, req[1], "Host", req[0])
	}
	series := func() map[string]float64 {
		t.Helper()
		got := seriesValues(t, e.handler.metrics.requests)
		for k, v := range seriesValues(t, e.handler.metrics.duration) {
			got["seconds "+k] = v
		}
		return got
	}
	before := series()
	for _, k := range []string{"miss|/a/|www|2xx", "miss|/b/|www|2xx", "miss|/|old|2xx"} {
		if before[k] != 1 || before["seconds "+k] != 1 {
			t.Fatalf("series %q before the reload: %v, want 1 in each vector; all: %v", k, before[k], before)
		}
	}
	rt, err := NewRouter(sites(false))
	if err != nil {
		t.Fatal(err)
	}
	retired, err := e.handler.Reroute(rt, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-retired
	e.get(t, "/a/2", "Host", "www.example")
	after := series()
	want := map[string]float64{"miss|/a/|www|2xx": 2, "seconds miss|/a/|www|2xx": 2}
	if !reflect.DeepEqual(after, want) {
		t.Errorf("series after the reload: %v, want %v", after, want)
	}
}
