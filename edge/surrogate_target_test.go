package edge

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// W3C Edge Architecture Specification 1.0: a Surrogate-Control directive
// may name the surrogate it is for ("max-age=60;edge1"). This node, named
// edge1 in its Surrogate-Capability, obeys the directives targeted at it
// and the untargeted ones, and ignores those targeted at another; one
// targeted at it takes precedence over the same directive untargeted.
func TestSurrogateControlTargets(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fields []string
		// hit: the second request, after a 10s pause, is a hit.
		hit bool
	}{
		{"targeted at another: not this node's lifetime", []string{"Cache-Control", "no-store", "Surrogate-Control", "max-age=600;edge2"}, false},
		{"targeted at this node", []string{"Cache-Control", "no-store", "Surrogate-Control", "max-age=600;edge1"}, true},
		{"target compared case-insensitively", []string{"Cache-Control", "no-store", "Surrogate-Control", "max-age=600;EDGE1"}, true},
		{"another's no-store is ignored", []string{"Surrogate-Control", "no-store;edge2, max-age=600"}, true},
		{"another's no-store alone leaves Cache-Control", []string{"Cache-Control", "max-age=600", "Surrogate-Control", "no-store;edge2"}, true},
		{"this node's no-store", []string{"Surrogate-Control", "max-age=600, no-store;edge1"}, false},
		{"this node's max-age over the untargeted one", []string{"Surrogate-Control", "max-age=1, max-age=600;edge1"}, true},
		{"another's max-age does not shorten the untargeted one", []string{"Surrogate-Control", "max-age=600, max-age=1;edge2"}, true},
		{"another's max-age, quoted form", []string{"Cache-Control", "no-store", "Surrogate-Control", `max-age="600" ; edge2`}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			o := newOrigin(t, c, static("x", tc.fields...))
			e := newEdge(t, c, edgeConfig{upstream: o.URL, name: "edge1", surrogate: "edge1"})
			e.get(t, "/s")
			if got := o.last(t).Header.Get("Surrogate-Capability"); got != `edge1="Surrogate/1.0"` {
				t.Fatalf("Surrogate-Capability upstream = %q", got)
			}
			c.Advance(10 * time.Second)
			resp, _ := e.get(t, "/s")
			if hit := strings.HasPrefix(cacheStatus(resp), "edge1; hit"); hit != tc.hit {
				t.Errorf("%q: hit %v (Cache-Status %q), want %v", tc.fields, hit, resp.Header.Get("Cache-Status"), tc.hit)
			}
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Surrogate-Control") != "" {
				t.Errorf("status %d, Surrogate-Control %q sent to the client", resp.StatusCode, resp.Header.Get("Surrogate-Control"))
			}
		})
	}
}
