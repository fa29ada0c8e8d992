package edge

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"edged/edge/waf"
	"edged/internal/logtest"
	"edged/storage"
)

// wafs shares the compiled WAFs of the tests (the CRS takes a while).
var wafs waf.Set

func mustWAF(tb testing.TB, o waf.Options) *waf.WAF {
	tb.Helper()
	w, err := wafs.WAF(o)
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

// wafEdge serves one site through a real listener: "/" blocks, "/detect/"
// only detects, "/open/" has no WAF, "/search/" blocks with 942100 (SQLi
// by libinjection) excluded, "/small/" blocks with a 64-byte body limit and
// "/partial/" inspects 64 bytes of longer bodies.
type wafEdge struct {
	*testEdge
	origin *testOrigin
	logs   *logtest.Buffer
	reg    *prometheus.Registry
}

func newWAFEdge(t *testing.T, tweak ...func(*Options)) *wafEdge {
	t.Helper()
	c := newClock()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Cache-Control", "max-age=600")
		fmt.Fprintf(w, "origin %s %s %d", r.Method, r.URL.Path, len(body))
	})
	up := upstreamTo(t, o.URL)
	block := mustWAF(t, waf.Options{Mode: waf.ModeBlock})
	route := func(prefix string, w *waf.WAF) *Route { return &Route{PathPrefix: prefix, Upstream: up, WAF: w} }
	rt, err := NewRouter([]*Site{{Name: "shop", Hosts: []string{"shop.example"}, Routes: []*Route{
		route("/", block),
		route("/detect/", mustWAF(t, waf.Options{Mode: waf.ModeDetect})),
		route("/open/", nil),
		route("/search/", mustWAF(t, waf.Options{Mode: waf.ModeBlock, Exclusions: []waf.Exclusion{{RuleIDs: []int{942100}, PathPrefix: "/search/"}}})),
		route("/small/", mustWAF(t, waf.Options{Mode: waf.ModeBlock, RequestBodyLimit: 64})),
		route("/partial/", mustWAF(t, waf.Options{Mode: waf.ModeBlock, RequestBodyLimit: 64, OversizeBody: waf.BodyInspectPartial})),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	store, err := storage.Open(storage.Options{Dir: t.TempDir(), Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	logs, reg := new(logtest.Buffer), prometheus.NewRegistry()
	opts := Options{Name: "edged", Store: store, Router: rt, Now: c.Now,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)), Registerer: reg}
	for _, f := range tweak {
		f(&opts)
	}
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e := &testEdge{Server: newPublicServer(t, h), handler: h, store: store}
	t.Cleanup(e.stop)
	return &wafEdge{testEdge: e, origin: o, logs: logs, reg: reg}
}

// raw sends a request written out byte for byte (a client library would
// clean or re-encode the attack's target) and returns the response.
func (e *wafEdge) raw(t *testing.T, method, target string, header http.Header, body string) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", e.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n", method, target)
	for name, values := range header {
		for _, v := range values {
			fmt.Fprintf(&b, "%s: %s\r\n", name, v)
		}
	}
	if body != "" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n" + body)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	return resp, string(got)
}

// browser are the fields a browser sends with a page request.
func browser() http.Header {
	return http.Header{
		"User-Agent":      {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"},
		"Accept":          {"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"},
		"Accept-Language": {"en-GB,en;q=0.9,fr;q=0.8"},
		"Accept-Encoding": {"gzip, deflate, br, zstd"},
		"Referer":         {"https://shop.example/"},
		"Cookie":          {"session=9f8e7d6c5b4a; consent=yes"},
	}
}

func withField(h http.Header, name, value string) http.Header {
	h = h.Clone()
	h.Set(name, value)
	return h
}

var form = withField(browser(), "Content-Type", "application/x-www-form-urlencoded")

// The attacks of issue #16 as scanners send them, each with a rule of the
// CRS it must be blocked by. inPath marks those whose path climbs out of
// the route's prefix (so they are routed by where they land).
var wafAttacks = []struct {
	name, method, target string
	header               http.Header
	body                 string
	rule                 string
	inPath               bool
}{
	{"sqli query", "GET", "/item?id=1'%20OR%20'1'='1", browser(), "", "942100", false},
	{"sqli query encoded", "GET", "/item?id=1%27%20OR%20%271%27%3D%271", browser(), "", "942100", false},
	{"xss query", "GET", "/find?q=%3Cscript%3Ealert(1)%3C/script%3E", browser(), "", "941100", false},
	{"traversal", "GET", "/../../etc/passwd", browser(), "", "930110", true},
	{"traversal encoded dots", "GET", "/static/%2e%2e/%2e%2e/etc/passwd", browser(), "", "930100", true},
	{"traversal double encoded", "GET", "/static/%252e%252e%252f%252e%252e%252fetc%252fpasswd", browser(), "", "930100", true},
	{"traversal in query", "GET", "/download?file=..%2f..%2fetc%2fpasswd", browser(), "", "930120", false},
	{"sqli form body", "POST", "/login", form, "user=admin&pass=1%27+OR+%271%27%3D%271", "942100", false},
	{"xss in a cookie", "GET", "/", withField(browser(), "Cookie", "q=<script>alert(1)</script>"), "", "941100", false},
}

// An encoded separator that hides a dot segment is the edge's own refusal
// (policy.ParseTarget), before any route or WAF: 400, never the origin.
func TestEncodedSeparatorTraversalRefusedFirst(t *testing.T) {
	e := newWAFEdge(t)
	resp, _ := e.raw(t, "GET", "/static/..%2f..%2f..%2fetc%2fpasswd", browser(), "")
	wantStatus(t, resp, http.StatusBadRequest, "detail=bad-target")
	if n := e.origin.requests.Load(); n != 0 {
		t.Errorf("the origin saw %d requests", n)
	}
}

func TestWAFBlocksAttacks(t *testing.T) {
	e := newWAFEdge(t)
	for _, a := range wafAttacks {
		t.Run(a.name, func(t *testing.T) {
			resp, body := e.raw(t, a.method, a.target, a.header, a.body)
			wantStatus(t, resp, http.StatusForbidden, "detail=waf")
			id := strings.TrimSuffix(strings.TrimSpace(body[strings.LastIndex(body, "request id ")+len("request id "):]), ")")
			if !strings.Contains(body, "forbidden by the web application firewall (request id ") || id == "" || id != resp.Header.Get("X-Request-Id") {
				t.Errorf("body %q, want the reason and the request id the answer carries (%q)", body, resp.Header.Get("X-Request-Id"))
			}
			line := logLine(t, e.logs.String(), id)
			if !strings.Contains(line, `"waf blocked a request"`) || !strings.Contains(line, a.rule) || !strings.Contains(line, "949110") {
				t.Errorf("log line %s: want the block, rule %s and the anomaly score's 949110", line, a.rule)
			}
		})
	}
	if n := e.origin.requests.Load(); n != 0 {
		t.Errorf("the origin saw %d requests, want none", n)
	}
	if got := testutil.ToFloat64(wafCounter(t, e.reg, "/", "blocked")); got != float64(len(wafAttacks)) {
		t.Errorf("blocked counter %v, want %d", got, len(wafAttacks))
	}
}

// A blocking WAF sees a request whose URL is cached: the attack rides in
// a field the cache key does not hold.
func TestWAFInspectsCacheHits(t *testing.T) {
	e := newWAFEdge(t)
	if resp, _ := e.raw(t, "GET", "/page", browser(), ""); resp.StatusCode != 200 {
		t.Fatalf("clean request: %d", resp.StatusCode)
	}
	if resp, _ := e.raw(t, "GET", "/page", browser(), ""); !isHit(resp) {
		t.Fatalf("second clean request: Cache-Status %q, want a hit", resp.Header.Get("Cache-Status"))
	}
	resp, _ := e.raw(t, "GET", "/page", withField(browser(), "Referer", "1' OR '1'='1"), "")
	wantStatus(t, resp, http.StatusForbidden, "detail=waf")
}

// The id in the answer's body is the request's own: the one sent upstream
// and echoed in X-Request-Id, not the one a client made up.
func TestWAFNamesTheRequestID(t *testing.T) {
	e := newWAFEdge(t)
	resp, body := e.raw(t, "GET", "/item?id=1'%20OR%20'1'='1", withField(browser(), "X-Request-Id", "made-up"), "")
	wantStatus(t, resp, http.StatusForbidden)
	id := resp.Header.Get("X-Request-Id")
	if id == "" || id == "made-up" || !strings.Contains(body, "(request id "+id+")") {
		t.Errorf("body %q, X-Request-Id %q: want the node's id in both", body, id)
	}
	logLine(t, e.logs.String(), id)
}

func TestWAFDetectModePasses(t *testing.T) {
	e := newWAFEdge(t)
	for _, a := range wafAttacks {
		if a.inPath {
			continue // resolves outside /detect/
		}
		target := "/detect" + a.target
		resp, body := e.raw(t, a.method, target, a.header, a.body)
		if resp.StatusCode != 200 || !strings.HasPrefix(body, "origin ") {
			t.Errorf("%s: %d %q, want the origin's answer", a.name, resp.StatusCode, body)
		}
		if !strings.Contains(e.logs.String(), a.rule) {
			t.Errorf("%s: no log line names rule %s", a.name, a.rule)
		}
	}
	if !strings.Contains(e.logs.String(), `"waf detected an attack"`) || strings.Contains(e.logs.String(), "waf blocked") {
		t.Errorf("logs:\n%s\nwant detections and no block", e.logs.String())
	}
	if got := testutil.ToFloat64(wafCounter(t, e.reg, "/detect/", "detected")); got != float64(len(wafAttacks)-3) {
		t.Errorf("detected counter %v, want %d", got, len(wafAttacks)-3)
	}
}

func TestWAFPassesCleanTraffic(t *testing.T) {
	e := newWAFEdge(t)
	json := withField(browser(), "Content-Type", "application/json")
	json.Set("Accept", "application/json")
	for _, c := range []struct {
		method, target string
		header         http.Header
		body           string
	}{
		{"GET", "/", browser(), ""},
		{"GET", "/products/shoes?color=blue&size=42&sort=price-asc", browser(), ""},
		{"GET", "/static/app.3f9a1c.js", withField(browser(), "Accept", "*/*"), ""},
		{"GET", "/find?q=o%27reilly+books", browser(), ""},
		{"POST", "/api/orders", json, `{"item":"book","qty":2,"note":"gift, please wrap","tags":["a","b"]}`},
		{"POST", "/login", form, "user=alice%40example.com&pass=correct+horse+battery+staple&remember=on"},
		{"HEAD", "/", browser(), ""},
	} {
		resp, body := e.raw(t, c.method, c.target, c.header, c.body)
		if resp.StatusCode != 200 {
			t.Errorf("%s %s: %d %q, want 200", c.method, c.target, resp.StatusCode, body)
		}
	}
	if strings.Contains(e.logs.String(), "waf") {
		t.Errorf("clean traffic logged:\n%s", e.logs.String())
	}
}

func TestWAFExclusion(t *testing.T) {
	e := newWAFEdge(t)
	// 942100 alone scores this one: excluded under /search/, passed.
	resp, body := e.raw(t, "GET", "/search/items?id=1'%20OR%20'1'='1", browser(), "")
	if resp.StatusCode != 200 {
		t.Errorf("excluded rule: %d %q, want 200", resp.StatusCode, body)
	}
	// The exclusion is the route's path: a path that only spells it is
	// not under it.
	resp, _ = e.raw(t, "GET", "/search/%2e%2e/item?id=1'%20OR%20'1'='1", browser(), "")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("dot segments out of the excluded path: %d, want 403", resp.StatusCode)
	}
}

func TestWAFBodies(t *testing.T) {
	e := newWAFEdge(t)
	long := "data=" + strings.Repeat("x", 100_000)
	// No WAF: the body streams through whole.
	resp, body := e.raw(t, "POST", "/open/upload", form, long)
	if resp.StatusCode != 200 || body != fmt.Sprintf("origin POST /open/upload %d", len(long)) {
		t.Errorf("route without a WAF: %d %q", resp.StatusCode, body)
	}
	// Over the limit: refused before the origin sees it.
	before := e.origin.requests.Load()
	resp, body = e.raw(t, "POST", "/small/upload", form, long)
	wantStatus(t, resp, http.StatusRequestEntityTooLarge, "detail=waf")
	if !strings.Contains(body, "request id") || e.origin.requests.Load() != before {
		t.Errorf("over the limit: %q, origin requests %d → %d", body, before, e.origin.requests.Load())
	}
	// Inspected in part: the origin still gets the body whole.
	resp, body = e.raw(t, "POST", "/partial/upload", form, long)
	if resp.StatusCode != 200 || body != fmt.Sprintf("origin POST /partial/upload %d", len(long)) {
		t.Errorf("partial inspection: %d %q, want the whole body upstream", resp.StatusCode, body)
	}
	// Under the limit, inspected whole and forwarded whole.
	resp, body = e.raw(t, "POST", "/small/upload", form, "a=1&b=2")
	if resp.StatusCode != 200 || body != "origin POST /small/upload 7" {
		t.Errorf("body under the limit: %d %q", resp.StatusCode, body)
	}
}

// startBody sends a request head announcing a body of n bytes and the
// first bytes of it, then stalls: the connection is returned open.
func (e *wafEdge) startBody(t *testing.T, path string, n int, first string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", e.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: shop.example\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s", path, n, first)
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	return conn
}

// uploadsUnderWay is how many clients hold upload slots.
func (e *wafEdge) uploadsUnderWay() int {
	u := &e.handler.uploads
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.clients)
}

// A body held for inspection takes one of the client's upload slots, so
// one client cannot make the node hold more than
// server.max_uploads_per_client bodies of request_body_limit bytes.
func TestWAFBodyTakesAnUploadSlot(t *testing.T) {
	e := newWAFEdge(t, func(o *Options) { o.MaxUploadsPerClient = 1 })
	conn := e.startBody(t, "/small/upload", 50, "a=1")
	waitFor(t, func() bool { return e.uploadsUnderWay() == 1 })
	resp, _ := e.raw(t, "POST", "/small/upload", form, "b=2")
	wantStatus(t, resp, http.StatusTooManyRequests, "detail=too-many-uploads")
	// The client leaves: its slot is given back, and a body is inspected again.
	conn.Close()
	waitFor(t, func() bool { return e.uploadsUnderWay() == 0 })
	if resp, body := e.raw(t, "POST", "/small/upload", form, "b=2"); resp.StatusCode != 200 {
		t.Errorf("after the slot was freed: %d %q", resp.StatusCode, body)
	}
	if n := e.origin.requests.Load(); n != 1 {
		t.Errorf("the origin saw %d requests, want only the last", n)
	}
}

// The bodies held for inspection count in the bodies' budget
// (Options.BodyMemory): each client's upload slots bounded what one client
// made the node hold, but not what many did, and bodies waiting for their
// inspection held memory no budget counted. Past the budget a body is
// refused with 503 and Retry-After before it is read; once the held one
// is done, bodies are inspected again.
func TestWAFBodiesHeldWithinBudget(t *testing.T) {
	e := newWAFEdge(t, func(o *Options) { o.MaxUploadsPerClient, o.BodyMemory = 8, 300<<10 })
	conn := e.startBody(t, "/upload", 100<<10, "a=1")
	waitFor(t, func() bool { return e.handler.bodies.used.Load() > 0 }) // its body is being inspected
	resp, body := e.raw(t, "POST", "/upload", form, "b=2&"+strings.Repeat("c", 100<<10))
	wantStatus(t, resp, http.StatusServiceUnavailable, "detail=memory-budget")
	if resp.Header.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After: %q", body)
	}
	conn.Close()
	waitFor(t, func() bool { return e.handler.bodies.used.Load() == 0 })
	if resp, body := e.raw(t, "POST", "/upload", form, "b=2&"+strings.Repeat("c", 100<<10)); resp.StatusCode != 200 {
		t.Errorf("after the held body ended: %d %q", resp.StatusCode, body)
	}
	if n := e.origin.requests.Load(); n != 1 {
		t.Errorf("the origin saw %d requests, want only the last", n)
	}
}

// A body that stalls while the WAF reads it is cut off as an upload is:
// 408 and the connection closed, after server.request_body_timeout.
func TestWAFStalledBody(t *testing.T) {
	e := newWAFEdge(t, func(o *Options) { o.RequestBodyTimeout = 300 * time.Millisecond })
	conn := e.startBody(t, "/small/upload", 50, "a=1")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	wantStatus(t, resp, http.StatusRequestTimeout, "detail=request-body-timeout")
	if !resp.Close {
		t.Error("the connection was kept open after a stalled body")
	}
	if n := e.origin.requests.Load(); n != 0 {
		t.Errorf("the origin saw %d requests", n)
	}
}

// logLine returns the log line that names request id, failing without one.
func logLine(t *testing.T, logs, id string) string {
	t.Helper()
	for line := range strings.Lines(logs) {
		if strings.Contains(line, `"request_id":"`+id+`"`) {
			return line
		}
	}
	t.Fatalf("no log line with request id %q in:\n%s", id, logs)
	return ""
}

func wafCounter(t *testing.T, reg *prometheus.Registry, route, action string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "edged_waf_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["site"] == "shop" && labels["route"] == route && labels["action"] == action {
				return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "x"}, func() float64 { return m.GetCounter().GetValue() })
			}
		}
	}
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "x"}, func() float64 { return 0 })
}

// BenchmarkWAF is the WAF's cost per request: a clean browser GET that
// hits the cache, through a route without a WAF and through one with the
// CRS in block mode at paranoia level 1. The difference is what the WAF
// adds to every request of a route that enables it.
func BenchmarkWAF(b *testing.B) {
	for _, kind := range []hitKind{{name: "off", routed: true}, {name: "block-pl1", routed: true, waf: true}} {
		b.Run(kind.name, func(b *testing.B) {
			s := newHitSetup(b, 1024, kind)
			maps.Copy(s.req.Header, browser())
			w := &discardWriter{h: make(http.Header, 16)}
			b.ReportAllocs()
			for b.Loop() {
				s.serve(w)
			}
			if !strings.HasPrefix(w.h.Get("Cache-Status"), "edged; hit") {
				b.Fatalf("Cache-Status %q, want a hit", w.h.Get("Cache-Status"))
			}
		})
	}
}
