package edge

import (
	"cmp"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"edged/edge/fastserve"
	"edged/edge/policy"
	"edged/edge/strictconn"
	"edged/origin"
	"edged/storage"
)

// clock is a fake clock shared by the edge and the test origin, so that
// Date, Age and freshness are exact. It starts at the real time because the
// origin server's own Date header uses it.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// httpDate formats a time for Date/Expires/Last-Modified.
func httpDate(t time.Time) string { return t.UTC().Format(http.TimeFormat) }

// testOrigin is a real loopback origin whose behaviour a test sets per call.
type testOrigin struct {
	*httptest.Server
	clock    *clock
	requests atomic.Int64
	mu       sync.Mutex
	handler  http.HandlerFunc
	seen     []*http.Request // requests received, headers cloned
}

func newOrigin(t testing.TB, c *clock, handler http.HandlerFunc) *testOrigin {
	t.Helper()
	o := &testOrigin{clock: c, handler: handler}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.requests.Add(1)
		o.mu.Lock()
		seen := r.Clone(r.Context())
		seen.Header = r.Header.Clone()
		o.seen = append(o.seen, seen)
		h := o.handler
		o.mu.Unlock()
		w.Header().Set("Date", httpDate(c.Now()))
		h(w, r)
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *testOrigin) set(h http.HandlerFunc) {
	o.mu.Lock()
	o.handler = h
	o.mu.Unlock()
}

// last returns the last request the origin received.
func (o *testOrigin) last(t testing.TB) *http.Request {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.seen) == 0 {
		t.Fatal("origin received no request")
	}
	return o.seen[len(o.seen)-1]
}

// static returns an origin handler that answers with fixed fields and body.
func static(body string, fields ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(fields); i += 2 {
			w.Header().Add(fields[i], fields[i+1])
		}
		_, _ = io.WriteString(w, body)
	}
}

type testEdge struct {
	*httptest.Server
	tb      testing.TB
	handler *Handler
	store   *storage.Store
	dir     string
}

type edgeConfig struct {
	name      string
	upstream  string // origin URL
	shields   []string
	maxObject int64
	memory    int64
	dir       string
	shield    bool
	// bodyMemory and writeTimeout are Options.BodyMemory and WriteTimeout.
	bodyMemory   int64
	writeTimeout time.Duration
	// bodyTimeout is the upstream's BodyTimeout; zero: 5 s.
	bodyTimeout time.Duration
	// slice, when set, serves 127.0.0.1 through a Router whose one route
	// keeps objects in slices of that many bytes (Route.Cache.Slice).
	slice int64
	// surrogate, when set, is the node's Surrogate-Control device token
	// (policy.Options.Surrogate), announced upstream in
	// Surrogate-Capability as the binary does.
	surrogate string
}

func newEdge(t testing.TB, c *clock, cfg edgeConfig) *testEdge {
	t.Helper()
	if cfg.name == "" {
		cfg.name = "edged"
	}
	if cfg.dir == "" {
		cfg.dir = t.TempDir()
	}
	store, err := storage.Open(storage.Options{Dir: cfg.dir, MemoryBytes: cfg.memory, Now: c.Now})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	capability := ""
	if cfg.surrogate != "" {
		capability = cfg.surrogate + `="Surrogate/1.0"`
	}
	up, err := origin.New(origin.Options{Origin: cfg.upstream, Shields: cfg.shields, Via: cfg.name,
		ConnectTimeout: 2 * time.Second, HeaderTimeout: 5 * time.Second, BodyTimeout: cmp.Or(cfg.bodyTimeout, 5*time.Second),
		SurrogateCapability: capability})
	if err != nil {
		t.Fatalf("origin client: %v", err)
	}
	opts := Options{Name: cfg.name, Store: store, Upstream: up, MaxObjectBytes: cfg.maxObject,
		Now: c.Now, Policy: policy.Options{Shield: cfg.shield, Surrogate: cfg.surrogate}, FetchTimeout: 10 * time.Second,
		BodyMemory: cfg.bodyMemory, WriteTimeout: cfg.writeTimeout}
	if cfg.slice > 0 {
		// Router, when set, serves every request: Upstream is unused.
		opts.Router, err = NewRouter([]*Site{{Name: "media", Hosts: []string{"127.0.0.1"},
			Routes: []*Route{{PathPrefix: "/", Upstream: up, Cache: RouteCache{Slice: cfg.slice}}}}})
		if err != nil {
			t.Fatalf("router: %v", err)
		}
	}
	h, err := New(opts)
	if err != nil {
		t.Fatalf("edge: %v", err)
	}
	srv := newPublicServer(t, h)
	e := &testEdge{Server: srv, tb: t, handler: h, store: store, dir: cfg.dir}
	t.Cleanup(e.stop)
	return e
}

// newPublicServer serves h as the binary's public listener does:
// edge/fastserve answers plain GET and HEAD requests and hands every other
// connection to an httptest.Server behind strictconn. Closing the
// httptest.Server leaves the fastserve connections, which tb's cleanup
// closes.
func newPublicServer(tb testing.TB, h http.Handler) *httptest.Server {
	tb.Helper()
	srv := httptest.NewUnstartedServer(h)
	ln := srv.Listener
	fs := &fastserve.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0)}
	srv.Listener = addrListener{Listener: strictconn.WrapListener(fs.Handoffs(), 0), addr: ln.Addr()}
	srv.Start()
	go func() { _ = fs.Serve(ln) }()
	tb.Cleanup(func() { _ = fs.Close() })
	return srv
}

// addrListener is a listener that names another's address (the handed-off
// connections arrive on the one fastserve serves).
type addrListener struct {
	net.Listener
	addr net.Addr
}

func (l addrListener) Addr() net.Addr { return l.addr }

// stop closes the edge; it is safe to call twice.
func (e *testEdge) stop() {
	e.Server.Close()
	closeHandler(e.tb, e.handler)
	_ = e.store.Close()
}

// tasksTimeout bounds the waits for a handler's goroutines in tests:
// generous, CI machines are loaded.
const tasksTimeout = 30 * time.Second

// closeHandler closes h, failing tb if what it started does not end in
// tasksTimeout.
func closeHandler(tb testing.TB, h *Handler) {
	ctx, cancel := context.WithTimeout(context.Background(), tasksTimeout)
	defer cancel()
	if err := h.Close(ctx); err != nil {
		tb.Errorf("close handler: %v", err)
	}
}

// waitTasks waits until no goroutine the handler started is running: the
// background refreshes, the fetches of clients that went away.
func (e *testEdge) waitTasks(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), tasksTimeout)
	defer cancel()
	if err := e.handler.tasks.wait(ctx); err != nil {
		tb.Fatal(err)
	}
}

// settle waits until no fill is in flight: a client can have its whole
// response (a range served while filling) before the fill is stored.
func (e *testEdge) settle(t testing.TB) {
	t.Helper()
	waitFor(t, func() bool {
		e.handler.flights.mu.Lock()
		defer e.handler.flights.mu.Unlock()
		return len(e.handler.flights.m) == 0
	})
}

// get sends a request to the edge and returns the response with its body read.
func (e *testEdge) do(t testing.TB, method, path string, fields ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(fields); i += 2 {
		if strings.EqualFold(fields[i], "Host") {
			req.Host = fields[i+1]
			continue
		}
		req.Header.Add(fields[i], fields[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp, string(body)
}

func (e *testEdge) get(t testing.TB, path string, fields ...string) (*http.Response, string) {
	t.Helper()
	return e.do(t, http.MethodGet, path, fields...)
}

// cacheStatus returns this edge's own member of Cache-Status (the last one).
func cacheStatus(resp *http.Response) string {
	v := resp.Header.Get("Cache-Status")
	if i := strings.LastIndex(v, ", "); i >= 0 {
		return v[i+2:]
	}
	return v
}

func isHit(resp *http.Response) bool {
	return strings.HasPrefix(strings.TrimPrefix(cacheStatus(resp), "edged"), "; hit")
}

// wantStatus fails unless resp has the status and its Cache-Status has every part.
func wantStatus(t testing.TB, resp *http.Response, status int, parts ...string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status = %d, want %d (Cache-Status %q)", resp.StatusCode, status, resp.Header.Get("Cache-Status"))
	}
	cs := cacheStatus(resp)
	for _, p := range parts {
		if !strings.Contains(cs, p) {
			t.Errorf("Cache-Status = %q, want it to contain %q", cs, p)
		}
	}
}

func readAll(t testing.TB, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// gate holds origin handlers until opened. Tests register open as a cleanup
// after creating the origin, so it runs first and a failing test cannot
// hang in the origin's Close waiting for held handlers.
type gate struct {
	ch   chan struct{}
	once sync.Once
}

func newGate() *gate  { return &gate{ch: make(chan struct{})} }
func (g *gate) wait() { <-g.ch }
func (g *gate) open() { g.once.Do(func() { close(g.ch) }) }
