package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"io/fs"
	"maps"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"edged/edge"
	"edged/edge/analytics"
)

// dashboardFiles are the dashboard's page, script and style: plain files,
// no build step, no external scripts (docs/dashboard.md).
//
//go:embed dashboard
var dashboardFiles embed.FS

// isHit says whether a cache outcome (edged_requests_total's cache label)
// is a response answered from the cache, stale or revalidated included.
func isHit(cache string) bool {
	switch cache {
	case "hit", "stale", "revalidated", "stale-if-error":
		return true
	}
	return false
}

// newAnalytics returns the recorder behind /analytics and the Observer
// that feeds it from the request path.
func newAnalytics() (*analytics.Recorder, func(edge.Observed)) {
	rec, _ := analytics.New(analytics.Options{}) // the defaults cannot fail
	return rec, func(o edge.Observed) {
		rec.Observe(analytics.Event{Host: o.Host, Path: o.Path, Client: o.Client, Site: o.Site, Route: o.Route, Status: o.Status, Hit: isHit(o.Cache), Duration: o.Duration})
	}
}

// adminRoutes adds the dashboard and its JSON endpoints to the admin mux.
// All of them take the purge token, like /purge and /inspect: they show
// what the node's users fetch and from where.
func (n *node) adminRoutes(mux *adminMux, reg prometheus.Gatherer) {
	guard := adminGuard(purgeTokenOf(n.cfg))
	static, _ := fs.Sub(dashboardFiles, "dashboard") // the embedded directory exists
	files := http.StripPrefix("/dashboard/", http.FileServerFS(static))
	mux.Handle("GET /dashboard", guard(http.RedirectHandler("/dashboard/", http.StatusFound)))
	mux.Handle("GET /dashboard/", guard(files))
	mux.Handle("GET /dashboard/state", guard(jsonHandler(func(*http.Request) any { return n.dashboardState(reg) })))
	mux.Handle("GET /analytics", guard(jsonHandler(func(r *http.Request) any {
		return n.analytics.Snapshot(20)
	})))
}

// adminGuard admits a request carrying the token as a bearer token
// (RFC 6750 §2.1) or, so that a browser can open the dashboard, as the
// password of HTTP Basic credentials (RFC 7617), any user name. Without a
// token the routes are off.
func adminGuard(token string) func(http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-store")
			// The page loads only its own files and may not be framed by
			// another site (clickjacking of the purge form).
			w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
			w.Header().Set("X-Frame-Options", "DENY")
			if token == "" {
				// Named by the path asked: the guard also keeps /inspect
				// and /reload, whose callers were told "the dashboard".
				inspectError(w, http.StatusForbidden, r.URL.Path+" is off: it needs a purge token (purge.token or EDGED_PURGE_TOKEN)")
				return
			}
			if !bearerIs(r, want) && !basicPasswordIs(r, want) {
				// RFC 9110 §11.6.1: both schemes are offered; the browser
				// prompts for Basic.
				w.Header().Add("WWW-Authenticate", `Basic realm="edged admin", charset="UTF-8"`)
				w.Header().Add("WWW-Authenticate", `Bearer realm="edged admin"`)
				inspectError(w, http.StatusUnauthorized, "missing or wrong admin token (the purge token, as a bearer token or the Basic password)")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func basicPasswordIs(r *http.Request, want [sha256.Size]byte) bool {
	_, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	got := sha256.Sum256([]byte(pass))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

func jsonHandler(answer func(*http.Request) any) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(answer(r))
	})
}

// dashboardState is the JSON of /dashboard/state: the node's counters
// and the state of its parts, read each second by the dashboard.
type dashboardState struct {
	Time     time.Time          `json:"time"`
	Requests map[string]float64 `json:"requests"`     // by cache outcome, since start
	Status   map[string]float64 `json:"status"`       // requests by status class, since start
	TierHits map[string]float64 `json:"tier_hits"`    // answers from each cache tier, since start
	Served   map[string]float64 `json:"served_bytes"` // by tier, since start
	Store    storeState         `json:"store"`
	Origins  []originState      `json:"origins"`
	Shields  []originState      `json:"shields"`
	Purge    purgeState         `json:"purge"`
}

type storeState struct {
	MemoryEntries int64 `json:"memory_entries"`
	MemoryBytes   int64 `json:"memory_bytes"`
	MemoryLimit   int64 `json:"memory_limit"`
	DiskEntries   int64 `json:"disk_entries"`
	DiskBytes     int64 `json:"disk_bytes"`
	DiskLimit     int64 `json:"disk_limit"`
}

type originState struct {
	Pool     string  `json:"pool"`
	URL      string  `json:"url"`
	Health   string  `json:"health"` // up, down, ejected, or unchecked (no pool, no health checks)
	InFlight int     `json:"in_flight"`
	Requests float64 `json:"requests"`            // sent to it since start
	P95      float64 `json:"p95_ms,omitempty"`    // time to response headers since start; 0 before any
	Ejected  float64 `json:"ejections,omitempty"` // passive ejections since start
}

type purgeState struct {
	Connected      bool    `json:"connected"`
	Sequence       float64 `json:"applied_sequence"`
	StreamSequence float64 `json:"stream_sequence"`
	Pending        float64 `json:"pending"`
	Behind         bool    `json:"behind"`
	Problem        string  `json:"problem,omitempty"`
}

func (n *node) dashboardState(reg prometheus.Gatherer) dashboardState {
	m := gatherFamilies(reg)
	st := n.store.Stats()
	up := n.upstreams() // a reload may replace them: one generation for origins and shields
	s := dashboardState{
		Time:     time.Now().UTC(),
		Requests: m.sumBy("edged_requests_total", "cache"),
		Status:   m.sumBy("edged_requests_total", "status"),
		TierHits: m.sumBy("edged_tier_hits_total", "tier"),
		Served:   m.sumBy("edged_served_bytes_total", "tier"),
		Store: storeState{
			MemoryEntries: st.MemoryEntries, MemoryBytes: st.MemoryBytes, MemoryLimit: st.MemoryLimit,
			DiskEntries: st.DiskEntries, DiskBytes: st.DiskBytes, DiskLimit: st.DiskLimit,
		},
		Origins: []originState{},
		Shields: shieldStates(up),
		Purge: purgeState{
			Connected:      m.value("edged_purge_bus_connected") == 1,
			Sequence:       m.value("edged_purge_applied_sequence"),
			StreamSequence: m.value("edged_purge_stream_sequence"),
			Pending:        m.value("edged_purge_pending_events"),
			Behind:         m.value("edged_purge_behind") == 1,
			Problem:        n.bus.Problem(),
		},
	}
	for _, name := range slices.Sorted(maps.Keys(up.pools)) {
		for _, srv := range up.pools[name].Status() {
			o := originState{Pool: name, URL: srv.URL, Health: "up", InFlight: srv.InFlight}
			switch {
			case srv.Ejected:
				o.Health = "ejected"
			case !srv.Up:
				o.Health = "down"
			}
			s.Origins = append(s.Origins, o)
		}
	}
	// Without sites, upstream.origin is used without a pool: origin keeps
	// no health of it to show.
	if u := up.cfg.Upstream; len(up.cfg.Sites) == 0 && u.Origin != "" {
		s.Origins = append(s.Origins, originState{Pool: "origin", URL: u.Origin, Health: "unchecked"})
	}
	for _, list := range [][]originState{s.Origins, s.Shields} {
		for i := range list {
			m.serverFigures(&list[i])
		}
	}
	return s
}

// shieldStates are the shields of every upstream client, once each: a
// shield several routes use is ejected when any of their clients ejected
// it (each client judges it on its own requests).
func shieldStates(up *upstreams) []originState {
	out := []originState{}
	at := make(map[string]int)
	for _, cl := range up.clients {
		for _, sh := range cl.Shields() {
			i, seen := at[sh.URL]
			if !seen {
				i, at[sh.URL] = len(out), len(out)
				out = append(out, originState{Pool: "shields", URL: sh.URL, Health: "up"})
			}
			out[i].InFlight += sh.InFlight
			if sh.Ejected {
				out[i].Health = "ejected"
			}
		}
	}
	return out
}

// families are the registry's metric families by name.
type families map[string]*dto.MetricFamily

func gatherFamilies(reg prometheus.Gatherer) families {
	out := make(families)
	got, _ := reg.Gather() // a collector's error leaves the others
	for _, f := range got {
		out[f.GetName()] = f
	}
	return out
}

// sumBy adds the values of a counter or gauge by the value of one of its
// labels; label "" sums every series under "".
func (fs families) sumBy(name, label string) map[string]float64 {
	out := make(map[string]float64)
	for _, m := range fs[name].GetMetric() {
		key := labelValue(m, label)
		switch {
		case m.Counter != nil:
			out[key] += m.Counter.GetValue()
		case m.Gauge != nil:
			out[key] += m.Gauge.GetValue()
		}
	}
	return out
}

// serverFigures fills o's request count, ejections and P95 latency from the
// series of its pool and server.
func (fs families) serverFigures(o *originState) {
	// A series not there yet reads as 0: dto's getters take nil.
	o.Requests = fs.serverSeries("edged_origin_requests_total", o).GetCounter().GetValue()
	o.Ejected = fs.serverSeries("edged_origin_ejections_total", o).GetCounter().GetValue()
	o.P95 = 1000 * bucketQuantile(0.95, fs.serverSeries("edged_origin_response_seconds", o).GetHistogram())
}

// serverSeries is the series of metric name for o's pool and server; nil
// when it has none.
func (fs families) serverSeries(name string, o *originState) *dto.Metric {
	for _, m := range fs[name].GetMetric() {
		if labelValue(m, "pool") == o.Pool && labelValue(m, "server") == o.URL {
			return m
		}
	}
	return nil
}

// value is the value of a metric without labels (the sum of its series).
func (fs families) value(name string) float64 { return fs.sumBy(name, "")[""] }

// bucketQuantile is the upper bound of the bucket that holds quantile q of
// h (the largest finite bound when it falls in +Inf); 0 without samples.
func bucketQuantile(q float64, h *dto.Histogram) float64 {
	total := h.GetSampleCount()
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	var last float64
	for _, b := range h.GetBucket() {
		last = b.GetUpperBound()
		if b.GetCumulativeCount() >= rank {
			return last
		}
	}
	return last
}

func labelValue(m *dto.Metric, name string) string {
	if name == "" {
		return ""
	}
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
