package edge

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"edged/edge/accesslog"
	"edged/internal/logtest"
	"edged/origin"
	"edged/storage"
)

// Requests are counted by cache outcome and logged as JSON lines.
func TestMetricsAndAccessLog(t *testing.T) {
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
	logs := &logtest.Buffer{}
	accessLog, err := accesslog.New(accesslog.Options{Output: logs})
	if err != nil {
		t.Fatal(err)
	}
	defer accessLog.Close()
	reg := prometheus.NewRegistry()
	seen := make(chan Observed, 3)
	h, err := New(Options{Name: "edged", Store: store, Upstream: up, Now: c.Now, Registerer: reg,
		AccessLog: accessLog, Observer: func(o Observed) { seen <- o }})
	if err != nil {
		t.Fatal(err)
	}
	srv := newPublicServer(t, h)
	defer srv.Close()
	e := &testEdge{Server: srv, handler: h, store: store}
	e.get(t, "/m")
	e.get(t, "/m")
	e.get(t, "/m")

	checkObserved(t, seen, "miss", "hit", "hit")
	if got := testutil.ToFloat64(h.metrics.requests.WithLabelValues("", "/", "2xx", "hit")); got != 2 {
		t.Errorf("hits = %v, want 2", got)
	}
	if got := testutil.ToFloat64(h.metrics.requests.WithLabelValues("", "/", "2xx", "miss")); got != 1 {
		t.Errorf("misses = %v, want 1", got)
	}
	if got := testutil.ToFloat64(h.metrics.fetches.WithLabelValues("2xx")); got != 1 {
		t.Errorf("upstream fetches = %v, want 1", got)
	}
	if n, err := testutil.GatherAndCount(reg, "edged_requests_total"); err != nil || n == 0 {
		t.Errorf("edged_requests_total on the registry: %d series, %v", n, err)
	}

	accessLog.Flush()
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("access log has %d lines, want 3:\n%s", len(lines), logs.String())
	}
	var rec struct {
		Method, URI, Cache string
		Status             int
		Bytes              int
	}
	if err := json.Unmarshal([]byte(strings.ToLower(lines[1])), &rec); err != nil {
		t.Fatalf("access log line is not JSON: %v: %s", err, lines[1])
	}
	if rec.Method != "get" || rec.URI != "/m" || rec.Cache != "hit" || rec.Status != 200 || rec.Bytes != 1 {
		t.Errorf("access log record = %+v", rec)
	}
}

// Issue 12, finding 7: a revalidation the client forced (no-cache,
// max-age=0, min-fresh: fwd=request) that the origin answers 304 served
// the stored response, like a fwd=stale revalidation, yet was counted and
// logged as a miss, so browser reloads inflated the miss rate.
func TestClientForcedRevalidationCountsAsRevalidated(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = io.WriteString(w, "body")
	})
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	e.get(t, "/r") // stored
	for i, fields := range [][]string{
		{"Cache-Control", "no-cache"},
		{"Cache-Control", "max-age=0"},
		{"Cache-Control", "min-fresh=6000"},
	} {
		c.Advance(time.Second) // an age of 0 satisfies max-age=0
		resp, _ := e.get(t, "/r", fields...)
		wantStatus(t, resp, http.StatusOK, "fwd=request", "fwd-status=304")
		if got := outcomeCount(e.handler, outcomeRevalidated); got != float64(i+1) {
			t.Errorf("%v: revalidated = %v, want %d (Cache-Status %q)", fields, got, i+1, cacheStatus(resp))
		}
	}
	if got := outcomeCount(e.handler, outcomeMiss); got != 1 {
		t.Errorf("misses = %v, want 1 (the first fetch only)", got)
	}
}

// checkObserved checks that Options.Observer saw one request per outcome
// in want, of /m from loopback on the catch-all route.
func checkObserved(t *testing.T, seen <-chan Observed, want ...string) {
	t.Helper()
	for _, w := range want {
		select {
		case got := <-seen:
			if got.Cache != w || got.Status != 200 || got.Path != "/m" || !got.Client.IsLoopback() || got.Route != "/" || got.Duration <= 0 {
				t.Errorf("observed %+v, want a %s of /m from loopback on route /", got, w)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the observer was not called for the %s", w)
		}
	}
}
