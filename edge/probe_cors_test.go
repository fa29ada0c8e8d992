package edge

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// TestCORSOriginAnswerNotPublishedToWaiter: a whole 200 answering one
// Origin (a specific Access-Control-Allow-Origin, no Vary) is stored as
// varying on Origin (policy.VaryOrigin); while it is still arriving, a
// range request from another origin that joins its fetch must not be
// served from it as it arrives (the in-progress path, publishable, takes
// only responses without Vary): it gets its own origin's answer.
func TestCORSOriginAnswerNotPublishedToWaiter(t *testing.T) {
	c := newClock()
	g := newGate()
	t.Cleanup(g.open)
	var requests atomic.Int64
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		origin := r.Header.Get("Origin")
		body := "for " + origin + strings.Repeat(".", 4096)
		w.Header().Set("Cache-Control", "public, max-age=600")
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Access-Control-Allow-Credentials", "true")
		w.Header().Set("Content-Length", "4117") // "for https://a.example" + dots
		_, _ = io.WriteString(w, body[:100])
		w.(http.Flusher).Flush()
		g.wait()
		_, _ = io.WriteString(w, body[100:])
	})
	e := routedEdge(t, c, &Site{Name: "s", Hosts: []string{"s.example"}, Routes: []*Route{
		{PathPrefix: "/", Upstream: upstreamTo(t, o.URL)},
	}})
	type answer struct{ origin, acao, body string }
	answers := make(chan answer, 2)
	ask := func(origin, rng string) {
		req, _ := http.NewRequest(http.MethodGet, e.URL+"/me", nil)
		req.Host = "s.example"
		req.Header.Set("Origin", origin)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := e.Client().Do(req)
		if err != nil {
			answers <- answer{origin, "error " + err.Error(), ""}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		answers <- answer{origin, resp.Header.Get("Access-Control-Allow-Origin"), string(b)}
	}
	go ask("https://a.example", "")
	waitFor(t, func() bool { return requests.Load() == 1 })
	go ask("https://b.example", "bytes=0-20")
	waitJoined(t, e, 1)
	g.open()
	for range 2 {
		a := <-answers
		if a.acao != a.origin || !strings.HasPrefix(a.body, "for "+a.origin) {
			t.Errorf("from %s: Access-Control-Allow-Origin %q, body %.30q: another origin's answer", a.origin, a.acao, a.body)
		}
	}
}
