package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// adminGet asks the admin listener for path with the given Authorization
// ("" sends none) and returns the status and body.
func adminGet(t testing.TB, f *fleetNode, path, authorization string) (int, string) {
	t.Helper()
	return adminDo(t, http.MethodGet, f.admin+path, authorization)
}

// adminDo sends method to url with the given Authorization ("" sends
// none) and returns the status and body.
func adminDo(t testing.TB, method, url, authorization string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestPprofOffByDefault: the admin listener served /debug/pprof to anyone
// who reached it (issue 11); by default it serves no profile at all.
func TestPprofOffByDefault(t *testing.T) {
	o, _ := countingOrigin(t)
	f := startFleetNode(t, parseNodeConfig(t, originYAML(o.URL)))
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=2", "/debug/pprof/cmdline"} {
		if status, body := adminGet(t, f, path, ""); status != http.StatusNotFound {
			t.Errorf("GET %s: %d %.80q, want 404", path, status, body)
		}
	}
	if status, _ := adminGet(t, f, "/healthz", ""); status != http.StatusOK {
		t.Errorf("healthz: %d", status)
	}
}

// TestPprofNeedsToken: with debug.pprof on, a profile is served only to a
// request with the debug token; and the option refuses to start without one.
func TestPprofNeedsToken(t *testing.T) {
	o, _ := countingOrigin(t)
	f := startFleetNode(t, parseNodeConfig(t, originYAML(o.URL)+"debug: {pprof: true, token: dbg-secret}\n"))
	for _, auth := range []string{"", "Bearer wrong", "Bearer " + purgeToken, "Basic ZGJnLXNlY3JldA==", "dbg-secret"} {
		status, _ := adminGet(t, f, "/debug/pprof/goroutine?debug=1", auth)
		if status != http.StatusUnauthorized {
			t.Errorf("Authorization %q: %d, want 401", auth, status)
		}
	}
	status, body := adminGet(t, f, "/debug/pprof/goroutine?debug=1", "bearer dbg-secret")
	if status != http.StatusOK || !strings.Contains(body, "goroutine profile") {
		t.Errorf("with the token: %d %.80q, want the goroutine profile", status, body)
	}

	t.Setenv("EDGED_DEBUG_TOKEN", "")
	cfg := parseNodeConfig(t, originYAML(o.URL)+"debug: {pprof: true}\n")
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "debug.pprof: needs debug.token") {
		t.Errorf("debug.pprof without a token: %v, want an error naming debug.pprof", err)
	}
}
