package edge

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"edged/edge/policy"
	"edged/origin"
)

// An upstream response head of more than origin.MaxResponseFields field
// lines is refused (502, upstream-error) and stored nowhere. Before, a
// 1 MiB head of one-letter fields was stored and served: some 7 MiB of
// maps and strings per response, copied for each hit sent, outside every
// budget of cache.memory (probe10: 240 MiB of anonymous memory for a node
// with cache.memory 64MiB after a few hundred such requests).
func TestHostileHeaderFieldFloodRefused(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/fields/"))
		w.Header().Set("Cache-Control", "max-age=600")
		for i := range n {
			w.Header()["X"+strconv.Itoa(i)] = []string{"v"}
		}
		_, _ = w.Write([]byte("body"))
	})
	e := newEdge(t, c, edgeConfig{upstream: o.URL})

	flood := "/fields/" + strconv.Itoa(20*origin.MaxResponseFields)
	for range 2 {
		resp, body := e.get(t, flood)
		wantStatus(t, resp, http.StatusBadGateway, policy.DetailUpstreamError)
		if strings.Contains(body, "body") {
			t.Errorf("the flooded response's body was served: %q", body)
		}
	}
	if got := o.requests.Load(); got != 2 {
		t.Errorf("origin requests = %d, want 2: nothing of the flooded response may be stored", got)
	}

	// A head within the bound (the few fields the origin and the edge
	// add included) is served and stored as before.
	fine := "/fields/" + strconv.Itoa(origin.MaxResponseFields-20)
	resp, body := e.get(t, fine)
	wantStatus(t, resp, http.StatusOK, "stored")
	if body != "body" || resp.Header.Get("X0") != "v" {
		t.Errorf("body %q, X0 %q", body, resp.Header.Get("X0"))
	}
	if resp, _ := e.get(t, fine); !isHit(resp) {
		t.Errorf("second request: Cache-Status %q, want a hit", resp.Header.Get("Cache-Status"))
	}
}
