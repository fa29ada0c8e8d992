package origin

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// latencyCounts returns the samples of edged_origin_response_seconds by
// "pool server".
func latencyCounts(t testing.TB, reg *prometheus.Registry) map[string]uint64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]uint64)
	for _, f := range families {
		if f.GetName() != "edged_origin_response_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			out[labels["pool"]+" "+labels["server"]] = m.GetHistogram().GetSampleCount()
		}
	}
	return out
}

// Shields have the series of a pool's servers under pool "shields" (no
// edged_origin_up: they have no active checks): every attempt counts as a
// request, an attempt that got a response as a latency sample, and an
// ejection as one; Client.Shields shows the ejection.
func TestShieldMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	live := newRecorder(t, "live")
	dead := deadURL(t)
	c := newTestClient(t, Options{Shields: []string{live.URL, dead}, Registerer: reg,
		ShieldEjection: Ejection{Failures: 1, Backoff: time.Hour}})
	deadFirst := keyWithFirst(t, c, dead)
	for _, key := range []string{deadFirst, keyWithFirst(t, c, live.URL), deadFirst} {
		resp, _, err := get(t, c, key, "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	// The dead shield was tried once, then ejected and skipped; the live
	// one answered all three.
	var byURL = map[string]*serverMetrics{}
	for _, s := range c.shields {
		byURL[s.base] = s.metrics
	}
	for _, tc := range []struct {
		name string
		c    prometheus.Collector
		want float64
	}{
		{"live requests", byURL[live.URL].requests, 3},
		{"dead requests", byURL[dead].requests, 1},
		{"dead ejections", byURL[dead].ejections, 1},
		{"live ejections", byURL[live.URL].ejections, 0},
	} {
		if got := testutil.ToFloat64(tc.c); got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, got, tc.want)
		}
	}
	want := map[string]uint64{"shields " + live.URL: 3, "shields " + dead: 0}
	if got := latencyCounts(t, reg); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("edged_origin_response_seconds samples %v, want %v", got, want)
	}
	if n, err := testutil.GatherAndCount(reg, "edged_origin_up"); err != nil || n != 0 {
		t.Errorf("edged_origin_up has %d series (%v), want none for shields", n, err)
	}
	st := c.Shields()
	if len(st) != 2 || st[0].URL != live.URL || st[0].Ejected || st[1].URL != dead || !st[1].Ejected || !st[1].Up {
		t.Errorf("Shields() = %+v, want the live shield in, the dead one ejected", st)
	}
}

// Options.Origin is a pool of one named "origin", with its series; without
// active checks it is up.
func TestOriginMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	o := newRecorder(t, "origin")
	c := newTestClient(t, Options{Origin: o.URL, Registerer: reg})
	resp, _, err := get(t, c, "k", "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := testutil.ToFloat64(c.pool.servers[0].metrics.up); got != 1 {
		t.Errorf("edged_origin_up = %v, want 1", got)
	}
	want := map[string]uint64{"origin " + o.URL: 1}
	if got := latencyCounts(t, reg); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("edged_origin_response_seconds samples %v, want %v", got, want)
	}
}

// serverSeries are the metrics with a series per upstream server;
// edged_origin_up, first, only for servers with an active-check verdict.
var serverSeries = []string{"edged_origin_up", "edged_origin_requests_total", "edged_origin_ejections_total", "edged_origin_response_seconds"}

// wantOneSeries fails unless each of names has exactly one series in reg:
// left names whose series would be the second.
func wantOneSeries(t testing.TB, reg *prometheus.Registry, left string, names ...string) {
	t.Helper()
	for _, name := range names {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n != 1 {
			t.Errorf("%s has %d series (%v), want 1: %s is left", name, n, err, left)
		}
	}
}

// TestDeleteServerMetrics: a pool rebuilt without one of its servers (a
// reload) shares the series of the servers it kept; deleting the removed
// server's series, latency included, leaves those.
func TestDeleteServerMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, urls := recorders(t, 2)
	old := newTestPool(t, PoolOptions{Name: "web", Servers: servers(urls...), Registerer: reg})
	next := newTestPool(t, PoolOptions{Name: "web", Servers: servers(urls[0]), Registerer: reg})
	servedBy(t, newTestClient(t, Options{Pool: old}), 2, sameKey)
	old.Close()
	old.DeleteServerMetrics(old.Status()[1].URL)
	servedBy(t, newTestClient(t, Options{Pool: next}), 2, sameKey)
	wantOneSeries(t, reg, "the removed server's", serverSeries...)
	if got := testutil.ToFloat64(next.servers[0].metrics.requests); got != 3 {
		t.Errorf("requests of the server kept = %v, want 3 (1 through the old pool, 2 through the new)", got)
	}
}

// TestDeleteShieldMetrics: clients share the series of a shield (pool
// "shields"); deleting those of a shield the next client no longer lists
// (a reload removed it) leaves the series of the shield it kept.
func TestDeleteShieldMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, urls := recorders(t, 2)
	old := newTestClient(t, Options{Shields: urls, Registerer: reg})
	next := newTestClient(t, Options{Shields: urls[:1], Registerer: reg})
	for _, key := range []string{keyWithFirst(t, old, urls[0]), keyWithFirst(t, old, urls[1])} {
		servedBy(t, old, 1, func(int) string { return key })
	}
	old.Close()
	old.DeleteShieldMetrics(urls[1])
	servedBy(t, next, 2, sameKey)
	wantOneSeries(t, reg, "the removed shield's", serverSeries[1:]...) // no edged_origin_up
	if got := testutil.ToFloat64(next.shields[0].metrics.requests); got != 3 {
		t.Errorf("requests of the shield kept = %v, want 3 (1 through the old client, 2 through the new)", got)
	}
}

// TestDeleteOriginMetrics: Client.Origin names the server of
// Options.Origin as its series do; deleting them (a reload pointed
// upstream.origin elsewhere) leaves the next client's origin's series.
func TestDeleteOriginMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, urls := recorders(t, 2)
	old := newTestClient(t, Options{Origin: urls[0], Registerer: reg})
	next := newTestClient(t, Options{Origin: urls[1], Registerer: reg})
	if old.Origin() != urls[0] || next.Origin() != urls[1] {
		t.Fatalf("Origin() = %q, %q; want %q, %q", old.Origin(), next.Origin(), urls[0], urls[1])
	}
	servedBy(t, old, 1, sameKey)
	old.Close()
	old.DeleteOriginMetrics()
	servedBy(t, next, 1, sameKey)
	wantOneSeries(t, reg, "the old origin's", serverSeries...)
	if got := latencyCounts(t, reg); len(got) != 1 || got["origin "+urls[1]] != 1 {
		t.Errorf("edged_origin_response_seconds samples %v, want only the next origin's", got)
	}
	if c := newTestClient(t, Options{Shields: urls[:1]}); c.Origin() != "" {
		t.Errorf("a client of shields only: Origin() = %q, want none", c.Origin())
	}
}
