package edge

import (
	"strings"
	"testing"
	"time"

	"edged/edge/policy"
	"edged/origin"
)

// The Surrogate-Control target token is the one of the rules in force
// (Site.Policy): after a Reroute to sites with another token (a reload that
// renames the cache), an object held in the memory tier is judged by the
// new token, as one read from disk is. The old code judged it by the facts
// the first hit had cached on the entry, parsed with the handler's token
// of its start, so it stayed fresh for the old name's max-age.
func TestSurrogateTokenFollowsReroute(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, static("x", "Cache-Control", "max-age=5", "Surrogate-Control", "max-age=600;one"))
	e := newEdge(t, c, edgeConfig{upstream: o.URL, name: "one", surrogate: "one"})
	route := func(token string) {
		t.Helper()
		up, err := origin.New(origin.Options{Origin: o.URL, Via: token, SurrogateCapability: token + `="Surrogate/1.0"`})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(up.Close)
		router, err := NewRouter([]*Site{{Name: "s", Hosts: []string{"127.0.0.1"}, Policy: &policy.Options{Surrogate: token},
			Routes: []*Route{{PathPrefix: "/", Upstream: up}}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.handler.Reroute(router, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	route("one")
	e.get(t, "/s")
	hit := func(cs string) bool { return strings.HasPrefix(cs, "one; hit") }
	if resp, _ := e.get(t, "/s"); !hit(cacheStatus(resp)) { // the hit that caches the entry's facts
		t.Fatalf("second request: Cache-Status %q, want a hit", cacheStatus(resp))
	}
	route("two") // "max-age=600;one" is another cache's now: max-age=5 is this one's
	c.Advance(10 * time.Second)
	if resp, _ := e.get(t, "/s"); hit(cacheStatus(resp)) || !strings.Contains(cacheStatus(resp), "fwd=stale") {
		t.Errorf("after the rename, 10s on: Cache-Status %q, want the entry stale (max-age=5)", cacheStatus(resp))
	}
}
