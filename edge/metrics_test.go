package edge

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// seriesValues collects c and returns each series' value (a counter's
// value, a histogram's count) by its label values joined with "|", labels
// in name order.
func seriesValues(t testing.TB, c prometheus.Collector) map[string]float64 {
	t.Helper()
	ch := make(chan prometheus.Metric)
	go func() { c.Collect(ch); close(ch) }()
	out := make(map[string]float64)
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		var values []string
		for _, l := range d.GetLabel() {
			values = append(values, l.GetValue())
		}
		v := d.GetCounter().GetValue()
		if h := d.GetHistogram(); h != nil {
			v = float64(h.GetSampleCount())
		}
		out[strings.Join(values, "|")] += v
	}
	return out
}

// outcomeCount sums edged_requests_total over every series of outcome o.
func outcomeCount(h *Handler, o outcome) float64 {
	ch := make(chan prometheus.Metric)
	go func() { h.metrics.requests.Collect(ch); close(ch) }()
	var n float64
	for m := range ch {
		var d dto.Metric
		_ = m.Write(&d)
		for _, l := range d.GetLabel() {
			if l.GetName() == "cache" && l.GetValue() == o.String() {
				n += d.GetCounter().GetValue()
			}
		}
	}
	return n
}

// Requests are counted by site, route (its prefix), status class and cache
// outcome, every value from the configuration or a fixed list: requests for
// many paths of a route, or many hosts no site serves, share their series.
func TestRequestMetricsLabels(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/gone") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = w.Write([]byte("body"))
	})
	up := upstreamTo(t, o.URL)
	e := routedEdge(t, c, &Site{Name: "shop", Hosts: []string{"shop.example"}, Routes: []*Route{
		{PathPrefix: "/", Upstream: up},
		{PathPrefix: "/api/", Upstream: up},
	}})
	get := func(host, path string) {
		t.Helper()
		resp, _ := e.get(t, path, "Host", host)
		resp.Body.Close()
	}
	get("shop.example", "/api/x") // miss
	get("shop.example", "/api/x") // hit
	get("shop.example", "/api/x") // hit
	for i := range 5 {
		get("shop.example", fmt.Sprintf("/page/%d", i)) // misses of route /
	}
	get("shop.example", "/api/gone") // 404, not stored: a miss
	for i := range 5 {
		get(fmt.Sprintf("h%d.example", i), "/") // 421: no site
	}

	want := map[string]float64{
		// cache|route|site|status: the labels in name order
		"miss|/api/|shop|2xx": 1,
		"hit|/api/|shop|2xx":  2,
		"miss|/|shop|2xx":     5,
		"miss|/api/|shop|4xx": 1,
		"error|||4xx":         5,
	}
	if got := seriesValues(t, e.handler.metrics.requests); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("edged_requests_total:\n got  %v\n want %v", got, want)
	}
	if got := seriesValues(t, e.handler.metrics.duration); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("edged_request_seconds counts:\n got  %v\n want %v", got, want)
	}
	if got, want := testutil.ToFloat64(e.handler.metrics.tierHits.WithLabelValues("memory")), 2.0; got != want {
		t.Errorf("edged_tier_hits_total{tier=memory} = %v, want %v", got, want)
	}
	if got, want := testutil.ToFloat64(e.handler.metrics.servedBytes.WithLabelValues("memory")), float64(2*len("body")); got != want {
		t.Errorf("edged_served_bytes_total{tier=memory} = %v, want %v", got, want)
	}
}

func TestStatusClass(t *testing.T) {
	for _, tc := range []struct {
		status int
		want   string
	}{
		{0, "other"}, {99, "other"}, {100, "1xx"}, {200, "2xx"}, {304, "3xx"}, {421, "4xx"}, {599, "5xx"}, {600, "other"},
	} {
		if got := statusClassNames[statusClass(tc.status)]; got != tc.want {
			t.Errorf("statusClass(%d) = %s, want %s", tc.status, got, tc.want)
		}
	}
}

// BenchmarkRecordRequest is what counting one request costs the hit path:
// "cached" is metrics.record, the series found on the route; "labels" is
// what it would cost to look the series up by label values each time.
func BenchmarkRecordRequest(b *testing.B) {
	m, err := newMetrics(nil)
	if err != nil {
		b.Fatal(err)
	}
	site := &Site{Name: "www"}
	route := &Route{PathPrefix: "/static/"}
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.record(site, route, outcomeHit, http.StatusOK, time.Millisecond)
		}
	})
	b.Run("labels", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			labels := []string{site.Name, route.PathPrefix, statusClassNames[statusClass(http.StatusOK)], outcomeHit.String()}
			m.requests.WithLabelValues(labels...).Inc()
			m.duration.WithLabelValues(labels...).Observe(time.Millisecond.Seconds())
		}
	})
}

// A route built again (a configuration reload builds new Routes) counts
// into the series of its site and prefix: its counts go on.
func TestRouteSeriesSurviveRebuild(t *testing.T) {
	m, err := newMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	site := &Site{Name: "www"}
	for range 2 {
		m.record(site, &Route{PathPrefix: "/api/"}, outcomeMiss, http.StatusOK, time.Millisecond)
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues("www", "/api/", "2xx", "miss")); got != 2 {
		t.Errorf("requests of two builds of one route = %v, want 2 in one series", got)
	}
}
