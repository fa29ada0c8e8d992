package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// runRealEdged builds edged and runs it in front of origin on 127.0.0.1,
// with a purge token and args; it returns the public and admin base URLs.
func runRealEdged(t *testing.T, origin string, args ...string) (public, admin string) {
	t.Helper()
	public, admin, _ = runRealEdgedLog(t, origin, args...)
	return public, admin
}

// runRealEdgedLog is runRealEdged that also returns what the node logs.
func runRealEdgedLog(t *testing.T, origin string, args ...string) (public, admin string, log *nodeLog) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs edged; skipped with -short")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "edged")
	if out, err := exec.Command("go", "build", "-o", bin, "edged/edge/cmd/edged").CombinedOutput(); err != nil {
		t.Fatalf("go build edged: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, append([]string{"-origin", origin, "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-data", filepath.Join(dir, "data")}, args...)...)
	cmd.Env = append(os.Environ(), "EDGED_PURGE_TOKEN=e2e-token")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	log = &nodeLog{grew: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var rec map[string]any
			if json.Unmarshal(sc.Bytes(), &rec) == nil {
				log.add(rec)
			}
		}
	}()
	rec := log.until(t, "serving")
	return fmt.Sprint("http://", rec["public"]), fmt.Sprint("http://", rec["admin"]), log
}

// nodeLog holds the JSON records a node logged, in order.
type nodeLog struct {
	mu   sync.Mutex // guards recs, read and grew
	recs []map[string]any
	read int           // records until has returned
	grew chan struct{} // closed, and replaced, as a record arrives
}

func (l *nodeLog) add(rec map[string]any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, rec)
	close(l.grew)
	l.grew = make(chan struct{})
}

// until waits for the next record with message msg and returns it,
// skipping the records before it.
func (l *nodeLog) until(t *testing.T, msg string) map[string]any {
	t.Helper()
	rec, _ := l.untilSkipping(t, msg)
	return rec
}

// untilSkipping is until that also returns the messages of the records
// logged since the last call and before the one found.
func (l *nodeLog) untilSkipping(t *testing.T, msg string) (rec map[string]any, skipped []string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		l.mu.Lock()
		for l.read < len(l.recs) {
			r := l.recs[l.read]
			l.read++
			if r["msg"] == msg {
				l.mu.Unlock()
				return r, skipped
			}
			skipped = append(skipped, fmt.Sprint(r["msg"]))
		}
		grew := l.grew
		l.mu.Unlock()
		select {
		case <-grew:
		case <-deadline:
			t.Fatalf("edged did not log %q (since the last one looked for, it logged %q)", msg, skipped)
		}
	}
}

// TestAgainstRealNode drives warm, stats and inspect against a real edged.
func TestAgainstRealNode(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=300")
		w.Header().Set("Surrogate-Key", "catalog")
		if strings.HasPrefix(r.URL.Path, "/vary/") {
			w.Header().Set("Vary", "Accept-Language")
		}
		fmt.Fprintf(w, "body of %s", r.URL.Path)
	}))
	t.Cleanup(origin.Close)
	public, admin := runRealEdged(t, origin.URL)
	environ := env(map[string]string{"EDGED_ADMIN": admin, "EDGED_PURGE_TOKEN": "e2e-token"})

	var list strings.Builder
	for i := range 12 {
		fmt.Fprintf(&list, "http://www.example.test/p/%d\n", i)
	}
	file := filepath.Join(t.TempDir(), "urls.txt")
	if err := os.WriteFile(file, []byte(list.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	warm := []string{"warm", "-c", "4", "-edge", public, file}
	if code := run(context.Background(), warm, environ, &stdout, &stderr); code != exitOK || !strings.Contains(stdout.String(), "0 hits, 12 misses, 0 errors") {
		t.Fatalf("first warm: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	if code := run(context.Background(), warm, environ, &stdout, &stderr); code != exitOK || !strings.Contains(stdout.String(), "12 hits, 0 misses, 0 errors") {
		t.Fatalf("second warm: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}

	// Stats over an interval with traffic all through it: requests are
	// counted and all of them hit.
	stdout.Reset()
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			var o, e bytes.Buffer
			run(context.Background(), warm, environ, &o, &e)
		}
	}()
	code := run(context.Background(), []string{"stats", "-i", "300ms", admin}, environ, &stdout, &stderr)
	close(stop)
	<-done
	t.Logf("stats:\n%s", stdout.String())
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if code != exitOK || len(lines) != 2 {
		t.Fatalf("stats: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	if f := strings.Fields(lines[1]); len(f) != 8 || f[0] != admin || f[1] == "0.0" || f[2] != "100.0" || f[3] != "0.0" || f[4] == "-" {
		t.Errorf("stats row %q: want the node, and every request in the interval a hit", lines[1])
	}

	stdout.Reset()
	if code := run(context.Background(), []string{"inspect", "http://www.example.test/p/3"}, environ, &stdout, &stderr); code != exitOK {
		t.Fatalf("inspect: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	t.Logf("inspect:\n%s", stdout.String())
	if !strings.Contains(stdout.String(), "KIND") || !strings.Contains(stdout.String(), "catalog") || !strings.Contains(stdout.String(), " 200 ") {
		t.Errorf("inspect:\n%s", stdout.String())
	}
	// A Vary index has no freshness of its own: its TTL is "-", where it
	// read "stale 0s" (its lifetime 0 less its age), and its variant's is
	// the origin's max-age.
	req, err := http.NewRequest(http.MethodGet, public+"/vary/1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "www.example.test"
	req.Header.Set("Accept-Language", "fr")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	stdout.Reset()
	if code := run(context.Background(), []string{"inspect", "http://www.example.test/vary/1"}, environ, &stdout, &stderr); code != exitOK {
		t.Fatalf("inspect: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	for _, line := range strings.Split(stdout.String(), "\n") {
		f := strings.Fields(line)
		switch {
		// "vary-index Vary: Accept-Language TIER STATUS AGE TTL ..."
		case len(f) > 0 && f[0] == "vary-index" && (len(f) < 7 || f[6] != "-"):
			t.Errorf("vary-index row %q: want TTL -", line)
		// "variant Accept-Language=fr TIER STATUS AGE TTL ..."
		case len(f) > 0 && f[0] == "variant" && (len(f) < 6 || strings.HasPrefix(f[5], "stale") || f[5] == "-"):
			t.Errorf("variant row %q: want a TTL", line)
		}
	}
	if !strings.Contains(stdout.String(), "vary-index") || !strings.Contains(stdout.String(), "variant") {
		t.Errorf("inspect of a Vary URL:\n%s", stdout.String())
	}

	// A page stored for a request with a cookie is marked per-user.
	req, err = http.NewRequest(http.MethodGet, public+"/account", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "www.example.test"
	req.Header.Set("Cookie", "session=alice")
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	stdout.Reset()
	if code := run(context.Background(), []string{"inspect", "http://www.example.test/account"}, environ, &stdout, &stderr); code != exitOK ||
		!strings.Contains(stdout.String(), "object (per-user)") {
		t.Errorf("inspect of a per-user page: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}

	stdout.Reset()
	run(context.Background(), []string{"inspect", "http://www.example.test/never"}, environ, &stdout, &stderr)
	if !strings.Contains(stdout.String(), "not cached on this node") {
		t.Errorf("inspect of an uncached URL:\n%s", stdout.String())
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"inspect", "--token", "wrong", "http://www.example.test/p/3"}, environ, &stdout, &stderr); code != exitFail || !strings.Contains(stderr.String(), "a wrong token") {
		t.Errorf("inspect with a wrong token: exit %d, %s", code, stderr.String())
	}
}

// TestReloadAgainstRealNode: edgectl reload has a real node read its file
// again (POST /reload, as SIGHUP): a good file is applied (exit 0; its
// log.level is the one the node logs at next), a bad one is refused with
// each problem at its line (exit 1), as is one that changes a field only a
// restart applies; a wrong token sends nothing. There was no reload
// command: operators had to find the admin endpoint.
func TestReloadAgainstRealNode(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(origin.Close)
	cfg := filepath.Join(t.TempDir(), "edged.yaml")
	write := func(s string) {
		if err := os.WriteFile(cfg, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("log: {level: info}\n")
	_, admin, log := runRealEdgedLog(t, origin.URL, "-config", cfg)
	environ := env(map[string]string{"EDGED_ADMIN": admin, "EDGED_PURGE_TOKEN": "e2e-token"})
	const applied, refused = "reload: configuration applied", "reload refused; the configuration in use stays"
	for _, tc := range []struct {
		file, token string
		code        int
		out, err    string
		// logged is what the node logs of the reload, at the level of
		// the file applied before it (none: nothing looked for).
		logged string
	}{
		// At level error the node does not log its info line of the
		// reload: the next step shows none came before its error line.
		{"log: {level: error}\n", "e2e-token", exitOK, "configuration reloaded", "", ""},
		{"log: {level: loud}\n", "e2e-token", exitFail, "", "edged.yaml:1: log.level: ", refused},
		{"cache: {memory: 64MiB}\n", "e2e-token", exitFail, "", "(restart_needed: the fields below change only when edged restarts); the one in use stays:\n  " + cfg + ":1: cache.memory: cannot change while edged runs", refused},
		{"log: {level: info}\n", "wrong", exitFail, "", "the purge token was not sent", ""},
		// Back at info, the node logs the reload that put it there.
		{"log: {level: info}\n", "e2e-token", exitOK, "configuration reloaded", "", applied},
	} {
		write(tc.file)
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"reload", "--token", tc.token}, environ, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stdout.String(), tc.out) || !strings.Contains(stderr.String(), tc.err) {
			t.Errorf("%q: exit %d\nstdout %s\nstderr %s\nwant exit %d, %q, %q", tc.file, code, stdout.String(), stderr.String(), tc.code, tc.out, tc.err)
		}
		if tc.logged == "" {
			continue
		}
		if _, skipped := log.untilSkipping(t, tc.logged); slices.Contains(skipped, applied) {
			t.Errorf("%q: the node logged %q at level error (log.level not applied): %q", tc.file, applied, skipped)
		}
	}
}
