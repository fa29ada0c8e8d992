package main

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"edged/internal/logtest"
)

// htpasswdLine is "user:bcrypt-hash\n" for pass at cost.
func htpasswdLine(t testing.TB, user, pass string, cost int) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pass), cost)
	if err != nil {
		t.Fatal(err)
	}
	return user + ":" + string(h) + "\n"
}

// serveStaffNode starts a node in dir for the site staff.test, fetching
// from origin, whose routes are the YAML list routes with each %[1]s the
// htpasswd file users; its log goes to the buffer returned.
func serveStaffNode(t testing.TB, dir, origin, routes, users string) (*fleetNode, *logtest.Buffer) {
	t.Helper()
	path := filepath.Join(dir, "edged.yaml")
	writeBytes(t, path, []byte(fmt.Sprintf(`listen: 127.0.0.1:0
admin: 127.0.0.1:0
data: %s
log: {level: info, access: false}
upstream: {origin: %s}
sites:
  - name: staff
    hosts: [staff.test]
    routes:`, filepath.Join(dir, "data"), origin)+fmt.Sprintf(routes, users)))
	args := []string{"-config", path}
	cfg, err := parseArgs(args)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logtest.Buffer{}
	return serveNodeArgs(t, cfg, logs, args), logs
}

// basicOrigin answers every path with the Basic user it was sent (it reads
// Authorization itself: edged forwards it) and how many requests it has
// had; /public/ responses are public, others private to the cache.
func basicOrigin(t testing.TB) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		count := n.Add(1)
		user, _, _ := r.BasicAuth()
		if strings.Contains(r.URL.Path, "/public/") {
			w.Header().Set("Cache-Control", "public, max-age=300")
		} else {
			w.Header().Set("Cache-Control", "max-age=300")
		}
		fmt.Fprintf(w, "%s for %s #%d\n", r.URL.Path, user, count)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// TestEndToEndBasicAuth runs a node whose routes require HTTP Basic
// credentials from an htpasswd file (nginx's auth_basic): no, wrong and
// right credentials; one 401 to the client whether the user or the
// password was wrong, with the reason in the log; the cache shares a
// public response between users but never a private one, and keeps each
// user apart under key_claims; basic_user keys the rate limit; a reload
// takes a changed password at once and refuses a bad file naming the field
// and the line.
func TestEndToEndBasicAuth(t *testing.T) {
	origin, hits := basicOrigin(t)
	dir := t.TempDir()
	users := filepath.Join(dir, "htpasswd")
	// alice's hash costs 8, so that a wrong password is slow to check and
	// an unknown user must be as slow (the decoy is the costliest hash).
	writeBytes(t, users, []byte("# staff\n"+htpasswdLine(t, "alice", "a-pass", 8)+htpasswdLine(t, "bob", "b-pass", bcrypt.MinCost)))
	f, logs := serveStaffNode(t, dir, origin.URL, `
      - path: /
        auth: {basic: {htpasswd: %[1]s, realm: Staff area}}
      - path: /mine/
        auth: {basic: {htpasswd: %[1]s}, key_claims: [tenant]}
      - path: /limited/
        auth: {basic: {htpasswd: %[1]s}}
        rate_limit: {rate: 0.01, burst: 2, key: basic_user}
      - path: /stripped/
        auth: {basic: {htpasswd: %[1]s}}
        request_headers: {remove: [Authorization]}
`, users)
	get := func(p, user, pass string) (*http.Response, string) {
		t.Helper()
		if user == "" && pass == "" {
			return fetch(t, f.public+p, "Host", "staff.test")
		}
		return fetch(t, f.public+p, "Host", "staff.test", "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	}

	// No credentials: 401 and the Basic challenge of RFC 7617.
	resp, _ := get("/x", "", "")
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Basic realm="Staff area", charset="UTF-8"` {
		t.Errorf("no credentials: %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	// Without basic.realm, the realm is the site's first host.
	if resp, _ := get("/mine/x", "", ""); resp.Header.Get("WWW-Authenticate") != `Basic realm="staff.test", charset="UTF-8"` {
		t.Errorf("default realm: WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
	}
	// Wrong password, unknown user: the same answer, and the log says which.
	_, wrongBody := get("/x", "alice", "nope")
	resp, unknownBody := get("/x", "mallory", "a-pass")
	if resp.StatusCode != http.StatusUnauthorized || wrongBody != unknownBody || strings.Contains(unknownBody, "mallory") {
		t.Errorf("wrong password %q, unknown user %d %q: want one 401 naming no one", wrongBody, resp.StatusCode, unknownBody)
	}
	// The log says which, with the client and the path.
	lines := logs.Lines(t, "basic authentication refused")
	if len(lines) != 2 || lines[0]["reason"] != `wrong password for user "alice"` || lines[1]["reason"] != `unknown user "mallory"` || lines[1]["path"] != "/x" || lines[1]["client"] != "127.0.0.1" {
		t.Errorf("log lines %v, want the two reasons", lines)
	}
	if hits.Load() != 0 {
		t.Fatalf("the origin was asked %d times before any credential was right", hits.Load())
	}

	// Timing: an unknown user costs a bcrypt comparison against the decoy
	// (alice's cost-8 hash) as a wrong password does; answered at once,
	// it would tell which names exist. Medians of 5, in one run.
	median := func(user string) time.Duration {
		var d []time.Duration
		for range 5 {
			start := time.Now()
			get("/x", user, "wrong")
			d = append(d, time.Since(start))
		}
		slices.Sort(d)
		return d[2]
	}
	// Without the decoy the two differ a hundredfold; a quarter leaves
	// room for a loaded machine.
	wrong, unknown := median("alice"), median("nobody")
	if unknown < wrong/4 {
		t.Errorf("unknown user answered in %v, a wrong password in %v: timing tells names apart", unknown, wrong)
	}

	// Right credentials reach the origin, Authorization with them.
	if resp, body := get("/x", "alice", "a-pass"); resp.StatusCode != 200 || body != "/x for alice #1\n" {
		t.Fatalf("alice: %d %q", resp.StatusCode, body)
	}
	// request_headers.remove keeps the password from the origin.
	if resp, body := get("/stripped/x", "alice", "a-pass"); resp.StatusCode != 200 || body != "/stripped/x for  #2\n" {
		t.Errorf("stripped route: %d %q, want the origin to see no Authorization", resp.StatusCode, body)
	}
	// A public response is shared between users (RFC 9111 §3.5)...
	get("/public/p", "alice", "a-pass")
	if _, body := get("/public/p", "bob", "b-pass"); body != "/public/p for alice #3\n" {
		t.Errorf("bob's public page: %q, want alice's stored copy", body)
	}
	// ...a private one never is.
	get("/private", "alice", "a-pass")
	if _, body := get("/private", "bob", "b-pass"); !strings.HasPrefix(body, "/private for bob ") {
		t.Errorf("bob's private page: %q, want his own", body)
	}
	// Under key_claims each user has a partition, even for public pages:
	// a Basic user has no claims, so a claim other than sub ([tenant])
	// would otherwise put every user in one partition.
	_, a1 := get("/mine/public/p", "alice", "a-pass")
	_, b1 := get("/mine/public/p", "bob", "b-pass")
	_, a2 := get("/mine/public/p", "alice", "a-pass")
	if !strings.Contains(a1, "for alice") || !strings.Contains(b1, "for bob") || a2 != a1 {
		t.Errorf("key_claims [tenant]: alice %q then %q, bob %q; want each their own, alice's stored", a1, a2, b1)
	}

	// basic_user: each user has a budget of their own.
	for i, want := range []int{200, 200, http.StatusTooManyRequests} {
		if resp, _ := get(fmt.Sprintf("/limited/%d", i), "alice", "a-pass"); resp.StatusCode != want {
			t.Errorf("alice's request %d: %d, want %d", i, resp.StatusCode, want)
		}
	}
	if resp, _ := get("/limited/b", "bob", "b-pass"); resp.StatusCode != 200 {
		t.Errorf("bob after alice spent her budget: %d, want 200", resp.StatusCode)
	}

	// A reload reads the file again: alice's old password, remembered a
	// moment ago, stops working at once; the new one works.
	writeBytes(t, users, []byte(htpasswdLine(t, "alice", "new-pass", bcrypt.MinCost)+htpasswdLine(t, "bob", "b-pass", bcrypt.MinCost)))
	if err := f.n.reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if old, _ := get("/x", "alice", "a-pass"); old.StatusCode != http.StatusUnauthorized {
		t.Errorf("alice's old password after the reload: %d, want 401", old.StatusCode)
	}
	if resp, _ := get("/x", "alice", "new-pass"); resp.StatusCode != 200 {
		t.Errorf("alice's new password after the reload: %d, want 200", resp.StatusCode)
	}
	// A bad file: refused, naming the field, the file and its line; the
	// users in force stay.
	writeBytes(t, users, []byte(htpasswdLine(t, "alice", "x", bcrypt.MinCost)+"carol:plaintext\n"))
	if err := f.n.reload(); err == nil || !strings.Contains(err.Error(), "sites[0].routes[0].auth.basic.htpasswd: "+users+`:2: user "carol": not a bcrypt hash`) {
		t.Errorf("reload with a bad file: %v, want it refused naming the field, file and line", err)
	}
	if resp, _ := get("/x", "alice", "new-pass"); resp.StatusCode != 200 {
		t.Errorf("after a refused reload: %d, want the users in force (200)", resp.StatusCode)
	}
}
