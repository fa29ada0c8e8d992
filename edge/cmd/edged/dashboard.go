package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
func (n *node) adminRoutes(mux *http.ServeMux, reg prometheus.Gatherer) {
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
				inspectError(w, http.StatusForbidden, "the dashboard is off: it needs a purge token (purge.token or EDGED_PURGE_TOKEN)")
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
	Served   map[string]float64 `json:"served_bytes"` // by tier, since start
	Store    storeState         `json:"store"`
	Origins  []originState      `json:"origins"`
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
	Pool     string `json:"pool"`
	URL      string `json:"url"`
	Health   string `json:"health"` // up, down, ejected, or unchecked (no pool, no health checks)
	InFlight int    `json:"in_flight"`
}

type purgeState struct {
	Connected bool    `json:"connected"`
	Sequence  float64 `json:"applied_sequence"`
	Pending   float64 `json:"pending"`
	Problem   string  `json:"problem,omitempty"`
}

func (n *node) dashboardState(reg prometheus.Gatherer) dashboardState {
	m := gatherByLabel(reg)
	st := n.store.Stats()
	s := dashboardState{
		Time:     time.Now().UTC(),
		Requests: m["edged_requests_total"],
		Served:   m["edged_served_bytes_total"],
		Store: storeState{
			MemoryEntries: st.MemoryEntries, MemoryBytes: st.MemoryBytes, MemoryLimit: int64(n.cfg.Cache.Memory),
			DiskEntries: st.DiskEntries, DiskBytes: st.DiskBytes, DiskLimit: int64(n.cfg.Cache.Disk),
		},
		Origins: []originState{},
		Purge: purgeState{
			Connected: m["edged_purge_bus_connected"][""] == 1,
			Sequence:  m["edged_purge_applied_sequence"][""],
			Pending:   m["edged_purge_pending_events"][""],
			Problem:   n.bus.Problem(),
		},
	}
	up := n.upstreams() // a reload may replace them
	names := make([]string, 0, len(up.pools))
	for name := range up.pools {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
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
	// Without sites, upstream.origin and upstream.shields are used without
	// a pool: origin keeps no health of them to show.
	if u := up.cfg.Upstream; len(up.cfg.Sites) == 0 {
		if u.Origin != "" {
			s.Origins = append(s.Origins, originState{Pool: "upstream.origin", URL: u.Origin, Health: "unchecked"})
		}
		for _, sh := range u.Shields {
			s.Origins = append(s.Origins, originState{Pool: "upstream.shields", URL: sh, Health: "unchecked"})
		}
	}
	return s
}

// gatherByLabel reads the registry's counters and gauges as metric name →
// the values of its labels joined by "," ("" without labels) → value.
func gatherByLabel(reg prometheus.Gatherer) map[string]map[string]float64 {
	out := make(map[string]map[string]float64)
	families, _ := reg.Gather() // a collector's error leaves the others
	for _, f := range families {
		vals := make(map[string]float64)
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetValue())
			}
			switch {
			case m.Counter != nil:
				vals[strings.Join(labels, ",")] += m.Counter.GetValue()
			case m.Gauge != nil:
				vals[strings.Join(labels, ",")] += m.Gauge.GetValue()
			}
		}
		out[f.GetName()] = vals
	}
	return out
}
