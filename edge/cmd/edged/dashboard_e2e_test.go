package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpfetch "github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"

	"edged/edge/analytics"
)

// TestDashboardAdminAccess: the dashboard and /analytics take the purge
// token (bearer, or the Basic password a browser sends); /metrics and
// /healthz stay open.
func TestDashboardAdminAccess(t *testing.T) {
	o, _ := countingOrigin(t)
	f := startFleetNode(t, parseNodeConfig(t, originYAML(o.URL)))
	basic := func(pass string) string {
		req, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
		req.SetBasicAuth("admin", pass)
		return req.Header.Get("Authorization")
	}
	for _, c := range []struct {
		path, auth string
		want       int
	}{
		{"/dashboard/", "", http.StatusUnauthorized},
		{"/dashboard/", "Bearer wrong", http.StatusUnauthorized},
		{"/dashboard/", basic("wrong"), http.StatusUnauthorized},
		{"/dashboard/", basic(purgeToken), http.StatusOK},
		{"/dashboard/app.js", "Bearer " + purgeToken, http.StatusOK},
		{"/dashboard/state", "", http.StatusUnauthorized},
		{"/dashboard/state", "Bearer " + purgeToken, http.StatusOK},
		{"/analytics", "", http.StatusUnauthorized},
		{"/analytics", "Bearer " + purgeToken, http.StatusOK},
		{"/metrics", "", http.StatusOK},
		{"/healthz", "", http.StatusOK},
	} {
		if got, body := adminGet(t, f, c.path, c.auth); got != c.want {
			t.Errorf("GET %s with %q: %d %.100q, want %d", c.path, c.auth, got, body, c.want)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, f.admin+"/dashboard/", nil)
	req.SetBasicAuth("admin", purgeToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy %q: want only the page's own files, and no framing", csp)
	}
}

// Without a purge token the dashboard, /analytics, /inspect and /reload
// are off, not open, and the answer names the endpoint asked for (a
// POST /reload was told "the dashboard is off").
func TestDashboardOffWithoutToken(t *testing.T) {
	o, _ := countingOrigin(t)
	t.Setenv("EDGED_PURGE_TOKEN", "")
	cfg := parseNodeConfig(t, originYAML(o.URL))
	cfg.Log.Level = "error"
	f := serveNode(t, cfg, io.Discard)
	for _, req := range []struct{ method, path string }{
		{http.MethodGet, "/dashboard/"}, {http.MethodGet, "/analytics"}, {http.MethodGet, "/dashboard/state"},
		{http.MethodGet, "/inspect"}, {http.MethodPost, "/reload"},
	} {
		got, body := adminDo(t, req.method, f.admin+req.path, "Bearer ")
		if got != http.StatusForbidden || !strings.Contains(body, req.path+" is off: it needs a purge token") {
			t.Errorf("%s %s without a configured token: %d %.100q, want 403 naming %s", req.method, req.path, got, body, req.path)
		}
	}
}

// chromium returns the path of Debian's chromium, installing it when it
// is missing and this is a Debian machine run as root; it skips the test,
// saying why, when there is none to be had.
func chromium(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if _, err := exec.LookPath("apt-get"); err != nil || os.Geteuid() != 0 {
		t.Skip("skipped: no chromium, and apt-get is missing or this is not root to install it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for _, args := range [][]string{{"update"}, {"install", "-y", "chromium"}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Skipf("skipped: apt-get %s failed: %v\n%s", strings.Join(args, " "), err, tail(out))
		}
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("skipped: chromium still missing after apt-get install")
	}
	return p
}

func tail(b []byte) []byte { return b[max(0, len(b)-2000):] }

// browser starts headless chromium with a fresh profile and answers the
// admin listener's Basic challenge with the purge token, as an operator
// typing it into the browser's prompt would.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox, // as root in a container
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1200, 600), // the full-page screenshot grows to the content
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTime(); cancelTab(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Skipf("skipped: chromium does not start: %v", err)
	}
	// The listener runs in the tab's read loop: it answers from goroutines.
	err := chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *cdpfetch.EventAuthRequired:
			go func() {
				_, _ = chromedp.Call(ctx, cdpfetch.ContinueWithAuth, cdpfetch.ContinueWithAuthParams{RequestID: e.RequestID,
					AuthChallengeResponse: &cdpfetch.AuthChallengeResponse{
						Response: cdpfetch.AuthChallengeResponseResponseProvideCredentials, Username: "admin", Password: purgeToken,
					}})
			}()
		case *cdpfetch.EventRequestPaused:
			go func() {
				_, _ = chromedp.Call(ctx, cdpfetch.ContinueRequest, cdpfetch.ContinueRequestParams{RequestID: e.RequestID})
			}()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	handle := true
	if _, err := chromedp.Call(ctx, cdpfetch.Enable, cdpfetch.EnableParams{HandleAuthRequests: &handle}); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// waitJS waits until the JavaScript expression cond is true in the page,
// re-evaluated on every animation frame (no sleeps).
func waitJS(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	// Every refresh changes the DOM: the condition is checked on mutations.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingMutation(), chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		page, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body.innerText"))
		t.Fatalf("waiting for %s (%s): %v\npage:\n%s", what, cond, err, page)
	}
}

// TestDashboardInChromium opens the dashboard of a real node in headless
// Chromium: the numbers change after traffic (requests, hit ratio by tier,
// errors, P50/P95/P99 per route, top URLs and clients, the origin and the
// shield with their health and latency), a purge from the form removes an
// object (the next request is a miss) and moves the bus's sequences, and,
// with EDGED_SCREENSHOT=1, it saves docs/img/dashboard.png for the README.
func TestDashboardInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped: -short (starts a browser)")
	}
	o, fetches := countingOrigin(t)
	target, err := url.Parse(o.URL)
	if err != nil {
		t.Fatal(err)
	}
	// The shield passes misses on to the origin, as a shield node would.
	shield := httptest.NewServer(httputil.NewSingleHostReverseProxy(target))
	t.Cleanup(shield.Close)
	f := startFleetNode(t, parseNodeConfig(t, fmt.Sprintf("upstream: {origin: %s, shields: [%s]}\n", o.URL, shield.URL)))
	ctx := browser(t)

	if err := chromedp.Do(ctx, chromedp.Navigate(f.admin+"/dashboard")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the first refresh", `document.getElementById("updated").textContent.startsWith("updated")`)
	before, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("requests-total").textContent`))
	if err != nil {
		t.Fatal(err)
	}

	for _, path := range []string{"/a", "/a", "/a", "/b"} {
		f.get(t, path)
	}
	// A forwarding loop (Via names this node) is refused with 508: an
	// error for the errors card.
	if resp, _ := fetch(t, f.public+"/a", "Via", "1.1 edged"); resp.StatusCode != http.StatusLoopDetected {
		t.Fatalf("request naming this node in Via: %d, want 508", resp.StatusCode)
	}
	if !f.hit(t, "/a") {
		t.Fatal("/a is not a hit after three requests")
	}
	waitJS(t, ctx, "the traffic to show", fmt.Sprintf(`Number(document.getElementById("requests-total").textContent) >= %s + 5
		&& document.getElementById("top-urls").textContent.includes("www.example.com/a")
		&& document.getElementById("top-clients").textContent.includes("127.0.0.1")
		&& document.getElementById("routes").tBodies[0].rows.length > 0
		&& document.getElementById("status").textContent.includes("200")
		&& document.getElementById("hit-ratio").textContent.endsWith("%%")
		&& /from memory [1-9]/.test(document.getElementById("tier-hits").textContent)
		&& document.getElementById("errors-detail").textContent.includes("5xx 1")
		&& Number(document.getElementById("routes").tBodies[0].rows[0].cells[4].textContent) > 0
		&& document.getElementById("origins").textContent.includes(%q)
		&& document.getElementById("shields").textContent.includes(%q)
		&& document.getElementById("shields").tBodies[0].rows[0].cells[1].textContent == "up"
		&& Number(document.getElementById("shields").tBodies[0].rows[0].cells[5].textContent) > 0`, before, o.URL, shield.URL))

	misses := fetches.Load()
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#purge-url"), "http://www.example.com/a"),
		chromedp.SendKeys(chromedp.CSS("#purge-token"), purgeToken),
		chromedp.Click(chromedp.CSS("#purge-submit")),
	); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the purge answer", `document.getElementById("purge-result").textContent.startsWith("purged")`)
	waitJS(t, ctx, "the applied sequence", `Number(document.getElementById("purge-seq").textContent) > 0
		&& document.getElementById("purge-stream-seq").textContent == document.getElementById("purge-seq").textContent
		&& document.getElementById("purge-state").textContent == "connected"`)
	if f.hit(t, "/a") {
		t.Error("/a is still a hit after the dashboard purged it")
	}
	if got := fetches.Load(); got != misses+1 {
		t.Errorf("origin fetches after the purge: %d, want %d (one refill)", got, misses+1)
	}

	if os.Getenv("EDGED_SCREENSHOT") == "1" {
		screenshot(t, ctx)
	}
}

// screenshot saves the page as docs/img/dashboard.png (shown by README).
func screenshot(t *testing.T, ctx context.Context) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "..", "docs", "img", "dashboard.png")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("saved %s (%d bytes)", path, len(png))
}

// TestDashboardStateWithSites: with sites, /dashboard/state shows the
// health of every server of every pool as the active checks see it, and
// /analytics names each route by site and prefix.
func TestDashboardStateWithSites(t *testing.T) {
	web := namedOrigin(t, "web")
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close() // nothing listens there any more: its checks fail
	f := startFleetNode(t, parseNodeConfig(t, fmt.Sprintf(`pools:
  web:
    servers: [{url: %s}, {url: %s}]
    health: {path: /, interval: 50ms, timeout: 1s}
sites:
  - name: one
    hosts: [one.test]
    routes:
      - {path: /, pool: web}
      - {path: /api/, pool: web}
`, web.URL, gone.URL)))
	var st dashboardState
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(30 * time.Second); ; <-tick.C {
		adminJSON(t, f, "/dashboard/state", &st)
		if len(st.Origins) == 2 && st.Origins[1].Health == "down" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("origins %+v, want %s down after its failed checks", st.Origins, gone.URL)
		}
	}
	if o := st.Origins[0]; o.Pool != "web" || o.URL != web.URL || o.Health != "up" {
		t.Errorf("first server %+v, want web's live server up", o)
	}

	for _, path := range []string{"/", "/api/x", "/api/x"} {
		fetch(t, f.public+path, "Host", "one.test")
	}
	var a analytics.Snapshot
	for deadline := time.Now().Add(30 * time.Second); ; <-tick.C {
		adminJSON(t, f, "/analytics", &a)
		if a.Requests >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("analytics %+v, want 3 requests", a)
		}
	}
	routes := map[string]string{}
	for _, r := range a.Routes {
		routes[r.Route] = fmt.Sprintf("%d requests, %d hits", r.Requests, r.Hits)
	}
	if want := map[string]string{"one /": "1 requests, 0 hits", "one /api/": "2 requests, 1 hits"}; fmt.Sprint(routes) != fmt.Sprint(want) {
		t.Errorf("routes %v, want %v", routes, want)
	}
}

// TestDashboardStateShields: /dashboard/state lists each shield with its
// passive health, requests and latency: a shield nobody can connect to is
// shown ejected once it failed enough, the live one up with a P95.
func TestDashboardStateShields(t *testing.T) {
	o, _ := countingOrigin(t)
	live := namedOrigin(t, "shield")
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close() // nothing listens there any more: every connect fails
	f := startFleetNode(t, parseNodeConfig(t, fmt.Sprintf("upstream: {origin: %s, shields: [%s, %s], shield_fallback: true}\n", o.URL, live.URL, dead.URL)))
	var st dashboardState
	for i := 0; ; i++ {
		// Distinct keys: about half have the dead shield first.
		fetch(t, fmt.Sprintf("%s/k%d", f.public, i))
		adminJSON(t, f, "/dashboard/state", &st)
		if len(st.Shields) == 2 && st.Shields[1].Health == "ejected" {
			break
		}
		if i == 500 {
			t.Fatalf("shields %+v after %d requests, want %s ejected", st.Shields, i, dead.URL)
		}
	}
	if sh := st.Shields[0]; sh.Pool != "shields" || sh.URL != live.URL || sh.Health != "up" || sh.Requests == 0 || sh.P95 <= 0 {
		t.Errorf("live shield %+v, want up with requests and a P95", sh)
	}
	if sh := st.Shields[1]; sh.Ejected != 1 || sh.P95 != 0 {
		t.Errorf("dead shield %+v, want one ejection and no latency", sh)
	}
	if got := st.Origins; len(got) != 1 || got[0].Pool != "origin" || got[0].URL != o.URL || got[0].Health != "unchecked" {
		t.Errorf("origins %+v, want upstream.origin unchecked", got)
	}
}

// adminJSON decodes the answer of an admin route called with the purge token.
func adminJSON(t testing.TB, f *fleetNode, path string, v any) {
	t.Helper()
	status, body := adminGet(t, f, path, "Bearer "+purgeToken)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, status, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
}
