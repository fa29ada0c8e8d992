package analytics

import (
	"cmp"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// OtherRoute names the histogram shared by the routes seen after
// Options.MaxRoutes others.
const OtherRoute = "(other)"

// MaxKeyBytes bounds the host and the path kept for one URL entry; longer
// ones are cut (a URL key only has to be recognisable).
const MaxKeyBytes = 256

// Event is one finished request.
type Event struct {
	Host, Path string
	Client     netip.Addr
	Site       string // the site's name; "" without sites
	Route      string // the route's path prefix; "" for a request no route served
	Status     int
	Hit        bool // answered from the cache (fresh, stale or revalidated)
	Duration   time.Duration
}

// Options configure a Recorder; zero values mean the defaults.
type Options struct {
	// Window is how many one-minute buckets are kept. Zero means 5.
	Window int
	// TopK is the number of counters of each top-k summary of a minute.
	// Zero means 100.
	TopK int
	// MaxRoutes bounds the routes that get their own latency histogram.
	// Zero means 64.
	MaxRoutes int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Recorder keeps the last minutes of traffic; create it with New.
type Recorder struct {
	opts Options

	mu      sync.Mutex // guards what follows
	ring    []*minute  // ring[i] is the minute with index % Window == i
	routes  map[routeKey]bool
	started time.Time
}

type urlKey struct{ host, path string }

type minute struct {
	index    int64 // Unix minute
	requests uint64
	status   [600]uint64
	urls     *summary[urlKey]
	clients  *summary[netip.Addr]
	errors   *summary[netip.Addr]
	latency  map[routeKey]*routeStats
}

// routeStats is one route's latency histogram and hit count.
type routeStats struct {
	histogram
	hits uint64
}

// New returns a Recorder, or an error naming a negative option.
func New(o Options) (*Recorder, error) {
	if o.Window < 0 || o.TopK < 0 || o.MaxRoutes < 0 {
		return nil, errors.New("analytics: Window, TopK and MaxRoutes must not be negative")
	}
	o.Window = cmp.Or(o.Window, 5)
	o.TopK = cmp.Or(o.TopK, 100)
	o.MaxRoutes = cmp.Or(o.MaxRoutes, 64)
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Recorder{opts: o, ring: make([]*minute, o.Window), routes: make(map[routeKey]bool), started: o.Now()}, nil
}

// Observe records one finished request.
func (r *Recorder) Observe(e Event) {
	now := r.opts.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.current(now.Unix() / 60)
	m.requests++
	if e.Status >= 100 && e.Status < len(m.status) {
		m.status[e.Status]++
	}
	m.urls.add(urlKey{e.Host, e.Path}, cloneURL)
	if e.Client.IsValid() {
		m.clients.add(e.Client, sameAddr)
		if e.Status >= 400 {
			m.errors.add(e.Client, sameAddr)
		}
	}
	route := r.routeOf(routeKey{e.Site, e.Route})
	rs := m.latency[route]
	if rs == nil {
		rs = new(routeStats)
		m.latency[route] = rs
	}
	rs.observe(e.Duration)
	if e.Hit {
		rs.hits++
	}
}

// current returns the bucket of minute idx, recycling the oldest.
func (r *Recorder) current(idx int64) *minute {
	slot := int(idx % int64(len(r.ring)))
	m := r.ring[slot]
	if m == nil || m.index != idx {
		m = &minute{
			index:   idx,
			urls:    newSummary[urlKey](r.opts.TopK),
			clients: newSummary[netip.Addr](r.opts.TopK),
			errors:  newSummary[netip.Addr](r.opts.TopK),
			latency: make(map[routeKey]*routeStats),
		}
		r.ring[slot] = m
	}
	return m
}

// routeKey names a route without joining its parts on every request.
type routeKey struct{ site, prefix string }

func (k routeKey) String() string {
	switch {
	case k.prefix == "":
		return "(none)"
	case k.site == "":
		return k.prefix
	}
	return k.site + " " + k.prefix
}

// routeOf bounds the set of routes with a histogram (r.mu held).
func (r *Recorder) routeOf(k routeKey) routeKey {
	if r.routes[k] {
		return k
	}
	if len(r.routes) >= r.opts.MaxRoutes {
		return routeKey{prefix: OtherRoute}
	}
	k = routeKey{strings.Clone(truncate(k.site)), strings.Clone(truncate(k.prefix))}
	r.routes[k] = true
	return k
}

func cloneURL(k urlKey) urlKey {
	return urlKey{strings.Clone(truncate(k.host)), strings.Clone(truncate(k.path))}
}

func sameAddr(a netip.Addr) netip.Addr { return a }

func truncate(s string) string {
	if len(s) > MaxKeyBytes {
		return s[:MaxKeyBytes]
	}
	return s
}

// Snapshot is the JSON of /analytics: the last Window minutes, the current
// one included.
type Snapshot struct {
	WindowSeconds  float64        `json:"window_seconds"` // the span counted: from the oldest minute kept (or the start) to now
	Requests       uint64         `json:"requests"`
	Status         map[int]uint64 `json:"status"`
	TopURLs        []Count        `json:"top_urls"`
	TopClients     []Count        `json:"top_clients"`
	TopErrorClient []Count        `json:"top_error_clients"`
	Routes         []RouteLatency `json:"routes"`
}

// Count is one top-k entry: Count is an upper bound, Count-Error a lower one.
type Count struct {
	Key   string `json:"key"`
	Count uint64 `json:"count"`
	Error uint64 `json:"error"`
}

// RouteLatency is one route's requests, hits and latency quantiles over
// the window.
type RouteLatency struct {
	Route    string  `json:"route"`
	Requests uint64  `json:"requests"`
	Hits     uint64  `json:"hits"` // answered from the cache
	P50      float64 `json:"p50_ms"`
	P95      float64 `json:"p95_ms"`
	P99      float64 `json:"p99_ms"`
}

// Snapshot merges the minutes of the window, keeping the top n of each
// list (n ≤ 0 means TopK).
func (r *Recorder) Snapshot(n int) Snapshot {
	if n <= 0 {
		n = r.opts.TopK
	}
	now := r.opts.Now()
	oldest := now.Unix()/60 - int64(len(r.ring)) + 1
	urls := make(map[urlKey]*Count)
	clients := make(map[netip.Addr]*Count)
	errs := make(map[netip.Addr]*Count)
	lat := make(map[routeKey]*routeStats)
	s := Snapshot{Status: make(map[int]uint64)}

	r.mu.Lock()
	from := time.Unix(oldest*60, 0)
	if r.started.After(from) {
		from = r.started
	}
	for _, m := range r.ring {
		if m == nil || m.index < oldest {
			continue
		}
		s.Requests += m.requests
		for code, c := range m.status {
			if c > 0 {
				s.Status[code] += c
			}
		}
		mergeSummary(urls, m.urls)
		mergeSummary(clients, m.clients)
		mergeSummary(errs, m.errors)
		for name, rs := range m.latency {
			if lat[name] == nil {
				lat[name] = new(routeStats)
			}
			lat[name].merge(&rs.histogram)
			lat[name].hits += rs.hits
		}
	}
	r.mu.Unlock()

	s.WindowSeconds = max(now.Sub(from), 0).Seconds()
	s.TopURLs = top(urls, n, func(k urlKey) string { return k.host + k.path })
	s.TopClients = top(clients, n, netip.Addr.String)
	s.TopErrorClient = top(errs, n, netip.Addr.String)
	s.Routes = make([]RouteLatency, 0, len(lat))
	for name, h := range lat {
		s.Routes = append(s.Routes, RouteLatency{Route: name.String(), Requests: h.total, Hits: h.hits, P50: ms(h.quantile(0.50)), P95: ms(h.quantile(0.95)), P99: ms(h.quantile(0.99))})
	}
	slices.SortFunc(s.Routes, func(a, b RouteLatency) int { return strings.Compare(a.Route, b.Route) })
	return s
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func mergeSummary[K comparable](into map[K]*Count, s *summary[K]) {
	for _, c := range s.heap {
		t := into[c.key]
		if t == nil {
			t = new(Count)
			into[c.key] = t
		}
		t.Count += c.count
		t.Error += c.err
	}
}

// top returns the n largest counts, largest first, ties by key.
func top[K comparable](m map[K]*Count, n int, name func(K) string) []Count {
	out := make([]Count, 0, len(m))
	for k, c := range m {
		out = append(out, Count{Key: name(k), Count: c.Count, Error: c.Error})
	}
	slices.SortFunc(out, func(a, b Count) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out[:min(n, len(out))]
}
