package edge

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestSliceCORSAnswerNotShared: on a sliced route without a cors policy,
// an origin server that answers one Origin's request with that origin in
// Access-Control-Allow-Origin (and credentials), forgetting Vary: Origin,
// does not have its slices served to another origin. The guard of
// fetch.keep (policy.VaryOrigin) must hold for slices too, which are
// stored by keepSlice, not keep.
func TestSliceCORSAnswerNotShared(t *testing.T) {
	c := newClock()
	body := patterned(3*sliceSize, 21)
	var requests atomic.Int64
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Date", httpDate(c.Now()))
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("Etag", `"v1"`)
		if origin := r.Header.Get("Origin"); origin != "" {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Allow-Credentials", "true")
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	}))
	t.Cleanup(o.Close)
	e := newSliceEdge(t, c, o.URL, sliceSize, 0)
	for _, origin := range []string{"https://a.example", "https://b.example", "null", ""} {
		fields := []string{}
		if origin != "" {
			fields = append(fields, "Origin", origin)
		}
		resp, got, err := getRange(t, e, http.MethodGet, "/f", "bytes=100-199", fields...)
		if err != nil || resp.StatusCode != 206 || !bytes.Equal(got, body[100:200]) {
			t.Fatalf("from %q: status %d, err %v", origin, resp.StatusCode, err)
		}
		if acao := resp.Header.Get("Access-Control-Allow-Origin"); acao != origin {
			t.Errorf("from %q: Access-Control-Allow-Origin %q: another origin's answer (Cache-Status %q)",
				origin, acao, resp.Header.Get("Cache-Status"))
		}
	}
}

// TestSliceWholeVaryNotSharedWithWaiter: on a sliced route, an origin
// that ignores Range answers with the whole 200, which varies (here on
// Accept-Language, or on Origin through the CORS guard). A request that
// waited on that fetch and does not match the leader's variant must not
// be given the leader's answer (RFC 9111 §4.1), as the unsliced miss path
// ensures (fetch.varyNames).
func TestSliceWholeVaryNotSharedWithWaiter(t *testing.T) {
	c := newClock()
	g := newGate()
	t.Cleanup(g.open)
	var requests atomic.Int64
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		g.wait()
		w.Header().Set("Date", httpDate(c.Now()))
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("Vary", "Accept-Language")
		w.Header().Set("Etag", `"`+r.Header.Get("Accept-Language")+`"`)
		_, _ = w.Write([]byte("in " + r.Header.Get("Accept-Language"))) // Range ignored
	}))
	t.Cleanup(o.Close)
	e := newSliceEdge(t, c, o.URL, sliceSize, 0)
	type answer struct {
		lang, body string
		err        error
	}
	answers := make(chan answer, 2)
	ask := func(lang string) {
		req, _ := http.NewRequest(http.MethodGet, e.URL+"/f", nil)
		req.Header.Set("Accept-Language", lang)
		resp, err := e.Client().Do(req)
		if err != nil {
			answers <- answer{lang, "", err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		answers <- answer{lang, string(b), err}
	}
	go ask("en")
	waitFor(t, func() bool { return requests.Load() == 1 })
	go ask("fr")
	waitJoined(t, e, 1)
	g.open()
	for range 2 {
		a := <-answers
		if a.err != nil || a.body != "in "+a.lang {
			t.Errorf("Accept-Language %s: body %q, err %v: another variant's answer", a.lang, a.body, a.err)
		}
	}
}
