package main

import (
	"bytes"
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// fakeMetricsNode serves a real Prometheus registry holding edged's metric
// names; each scrape first records 10 requests (8 hits, 1 miss, 1 error,
// each taking 10ms) and applies a purge, so two scrapes see known deltas.
func fakeMetricsNode(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	reg := prometheus.NewRegistry()
	reqs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edged_requests_total"}, []string{"cache"})
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "edged_request_seconds", Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 14)}, []string{"cache"})
	seq := prometheus.NewGauge(prometheus.GaugeOpts{Name: "edged_purge_applied_sequence"})
	pending := prometheus.NewGauge(prometheus.GaugeOpts{Name: "edged_purge_pending_events"})
	lag := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "edged_purge_lag_seconds"})
	reg.MustRegister(reqs, dur, seq, pending, lag)
	pending.Set(2)
	var scrapes atomic.Int64
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		scrapes.Add(1)
		for i := range 10 {
			outcome := "hit"
			switch i {
			case 8:
				outcome = "miss"
			case 9:
				outcome = "error"
			}
			reqs.WithLabelValues(outcome).Inc()
			dur.WithLabelValues(outcome).Observe(0.01)
		}
		seq.Inc()
		lag.Observe(0.004)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &scrapes
}

func TestRunStatsTable(t *testing.T) {
	a, _ := fakeMetricsNode(t)
	b, _ := fakeMetricsNode(t)
	var stdout, stderr bytes.Buffer
	// b named as host:port: edgectl adds http://.
	code := run(context.Background(), []string{"stats", "-i", "10ms", a.URL, strings.TrimPrefix(b.URL, "http://")}, env(nil), &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("want a header and two rows, got:\n%s", stdout.String())
	}
	for _, want := range []string{"NODE", "REQ/S", "HIT%", "ERR/S", "P95", "PURGE SEQ", "BEHIND", "LAG"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("header %q lacks %s", lines[0], want)
		}
	}
	for i, row := range lines[1:] {
		f := strings.Fields(row)
		// 8 of the interval's 10 requests were hits; P95 of 10ms
		// observations is inside the bucket (9.8ms, 24.4ms]; the sequence
		// is 2 after two scrapes; 2 events pending; lag 4ms on average.
		if len(f) != 8 || f[2] != "80.0" || f[5] != "2" || f[6] != "2" || f[7] != "4ms" {
			t.Errorf("row %d = %q", i, row)
		}
		if p, err := timeParse(f[4]); err != nil || p < 0.0097 || p > 0.0245 {
			t.Errorf("row %d: P95 %q not in the 10ms bucket", i, f[4])
		}
	}
	if strings.Contains(stdout.String(), "edged_requests_total") {
		t.Errorf("raw metric lines in the table:\n%s", stdout.String())
	}
}

func timeParse(s string) (float64, error) {
	d, err := timeParseDuration(s)
	return d.Seconds(), err
}

func TestRunStatsWatch(t *testing.T) {
	a, scrapes := fakeMetricsNode(t)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"stats", "-w", "-n", "3", "-i", "5ms", a.URL}, env(nil), &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	// Not a terminal: three tables one after another, no escape codes,
	// from four scrapes (each table is the delta since the one before).
	if n := strings.Count(stdout.String(), "NODE"); n != 3 || strings.Contains(stdout.String(), "\x1b") {
		t.Errorf("want 3 plain tables, got:\n%q", stdout.String())
	}
	if n := scrapes.Load(); n != 4 {
		t.Errorf("%d scrapes, want 4", n)
	}
}

func TestRunStatsNodeDown(t *testing.T) {
	a, _ := fakeMetricsNode(t)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"stats", "-i", "5ms", a.URL, down.URL}, env(nil), &stdout, &stderr)
	if code != exitFail || !strings.Contains(stdout.String(), "error") || !strings.Contains(stderr.String(), down.URL) {
		t.Errorf("exit %d stdout %q stderr %q; want 1, an error row and the reason", code, stdout.String(), stderr.String())
	}
	// Both scrapes of the node failed alike: the reason is said once, not
	// once per scrape.
	if n := strings.Count(stderr.String(), down.URL); n != 1 {
		t.Errorf("stderr names the node %d times, want once:\n%s", n, stderr.String())
	}
}

func TestQuantile(t *testing.T) {
	b := []bucket{{0.1, 0}, {0.2, 50}, {0.4, 100}, {math.Inf(1), 100}}
	for _, tt := range []struct{ q, want float64 }{{0.5, 0.2}, {0.95, 0.38}, {0.25, 0.15}} {
		if got := quantile(tt.q, b); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if got := quantile(0.95, []bucket{{0.1, 0}, {math.Inf(1), 0}}); !math.IsNaN(got) {
		t.Errorf("no observations: %v, want NaN", got)
	}
	if got := quantile(0.99, []bucket{{0.1, 1}, {math.Inf(1), 10}}); got != 0.1 {
		t.Errorf("rank in +Inf: %v, want the last finite bound", got)
	}
}

var timeParseDuration = time.ParseDuration
