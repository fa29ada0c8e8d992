package main

// End-to-end tests: build the real binary, run it against an httptest
// origin on 127.0.0.1, and talk to it over HTTP.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"edged/internal/logtest"
)

// startTimeout is generous: the machine is shared and tests run with -race.
const startTimeout = 60 * time.Second

var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
	os.Exit(code)
}

// edgedBinary builds the binary once per test run.
func edgedBinary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	binary.once.Do(func() {
		if binary.dir, binary.err = os.MkdirTemp("", "edged-e2e-"); binary.err != nil {
			return
		}
		binary.path = filepath.Join(binary.dir, "edged")
		out, err := exec.Command("go", "build", "-o", binary.path, ".").CombinedOutput()
		if err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// proc is a running edged.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr *logtest.Buffer
	done           chan struct{} // closed when the process has exited
	exitErr        error
	public, admin  string // base URLs, from the "serving" log line
	tls            string // the TLS listener's address, when it has one
}

// runEdged starts the binary and returns once it logs that it serves, or
// once it exits (then public is "").
func runEdged(t testing.TB, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(edgedBinary(t), args...), stdout: &logtest.Buffer{}, stderr: &logtest.Buffer{}, done: make(chan struct{})}
	p.cmd.Stdout = p.stdout
	pr, pw := io.Pipe()
	p.cmd.Stderr = pw
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	serving := make(chan map[string]any, 1)
	copied := make(chan struct{}) // stderr has been read to its end
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			fmt.Fprintln(p.stderr, sc.Text())
			var rec map[string]any
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == "serving" {
				serving <- rec
			}
		}
		_, _ = io.Copy(p.stderr, pr)
	}()
	go func() {
		p.exitErr = p.cmd.Wait()
		pw.Close()
		<-copied // so that p.stderr holds the last lines once done is closed
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("edged %v stderr:\n%s", args, p.stderr)
		}
	})
	select {
	case rec := <-serving:
		p.public = "http://" + fmt.Sprint(rec["public"])
		if addr, ok := rec["tls"].(string); ok {
			p.tls = addr
		}
		if a, ok := rec["admin"]; ok {
			p.admin = "http://" + fmt.Sprint(a)
		}
	case <-p.done:
	case <-time.After(startTimeout):
		t.Fatalf("edged did not start in %v; stderr:\n%s", startTimeout, p.stderr)
	}
	return p
}

// wait returns the exit code once the process has exited.
func (p *proc) wait(t testing.TB) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(startTimeout):
		t.Fatalf("edged did not exit in %v", startTimeout)
	}
	var ee *exec.ExitError
	if errors.As(p.exitErr, &ee) {
		return ee.ExitCode()
	}
	if p.exitErr != nil {
		t.Fatal(p.exitErr)
	}
	return 0
}

// stop sends SIGTERM and returns the exit code.
func (p *proc) stop(t testing.TB) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	return p.wait(t)
}

func fetch(t testing.TB, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func countingOrigin(t testing.TB) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "object %s\n", r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// TestEndToEnd runs a node, caches an object, stops the node with SIGTERM
// and checks that a restart on the same data directory serves it from disk.
func TestEndToEnd(t *testing.T) {
	// The cache key includes the host; the restarted node listens on
	// another port, so the requests name one host explicitly.
	const host = "www.example.test"
	origin, hits := countingOrigin(t)
	data := t.TempDir()
	args := []string{"-origin", origin.URL, "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-data", data}
	p := runEdged(t, args...)
	if p.public == "" {
		t.Fatalf("edged exited at start (%v)", p.exitErr)
	}

	if resp, body := fetch(t, p.admin+"/healthz"); resp.StatusCode != 200 || !strings.HasPrefix(body, "ok\npurge bus: connected to in-process, applied 0 of stream 0, 0 reconnects\n") || strings.Contains(body, "warning") {
		t.Fatalf("/healthz = %d %q", resp.StatusCode, body)
	}
	first, body := fetch(t, p.public+"/a/b.txt", "Host", host)
	if first.StatusCode != 200 || body != "object /a/b.txt\n" {
		t.Fatalf("first GET = %d %q", first.StatusCode, body)
	}
	second, body := fetch(t, p.public+"/a/b.txt", "Host", host)
	// RFC 9211 §2.1: "hit" names a response served from this cache.
	if cs := second.Header.Get("Cache-Status"); !strings.Contains(cs, "hit") || body != "object /a/b.txt\n" {
		t.Errorf("second GET: Cache-Status %q (first was %q), body %q", cs, first.Header.Get("Cache-Status"), body)
	}
	if got := hits.Load(); got != 1 {
		t.Errorf("origin saw %d requests, want 1", got)
	}

	// net/http answers 431 for headers over max_header_bytes (64KiB).
	if resp, _ := fetch(t, p.public+"/big-header", "X-Big", strings.Repeat("x", 100<<10)); resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("oversized header: status %d, want 431", resp.StatusCode)
	}
	resp, metrics := fetch(t, p.admin+"/metrics")
	for _, want := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if resp.StatusCode != 200 || !strings.Contains(metrics, want) {
			t.Errorf("/metrics (%d) lacks %q", resp.StatusCode, want)
		}
	}

	if code := p.stop(t); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d, want 0", code)
	}
	if !strings.Contains(p.stderr.String(), "stopped cleanly") {
		t.Errorf("no clean stop logged")
	}
	if !strings.Contains(p.stdout.String(), `"/a/b.txt"`) {
		t.Errorf("access log on stdout does not name the path:\n%s", p.stdout)
	}

	q := runEdged(t, args...)
	if q.public == "" {
		t.Fatalf("restart exited at start (%v)", q.exitErr)
	}
	third, body := fetch(t, q.public+"/a/b.txt", "Host", host)
	if cs := third.Header.Get("Cache-Status"); !strings.Contains(cs, "hit") || body != "object /a/b.txt\n" {
		t.Errorf("after restart: Cache-Status %q, body %q", cs, body)
	}
	if got := hits.Load(); got != 1 {
		t.Errorf("origin saw %d requests after restart, want 1", got)
	}
	if code := q.stop(t); code != 0 {
		t.Errorf("second exit code = %d, want 0", code)
	}
}

// TestStartupErrors checks that each startup failure exits non-zero with a
// message that says what is wrong.
func TestStartupErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "edged.yaml")
	if err := os.WriteFile(cfg, []byte("upstream:\n  origin: http://127.0.0.1:9\ncache:\n  memory: 12XB\n  bogus: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"-origin", "http://127.0.0.1:9", "-admin", "", "-data", t.TempDir()}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string
	}{
		{"bad config", []string{"-config", cfg}, exitConfig, []string{cfg + `:5: unknown field "bogus" in cache`}},
		{"bad config value", []string{"-config", cfg + ".x"}, exitConfig, []string{"no such file"}},
		{"bad flag", []string{"-role", "edgy"}, exitConfig, []string{`edged: role: must be edge, shield or forward, got "edgy"`}},
		{"port in use", append(base, "-listen", busy.Addr().String()), exitFail, []string{"public listener (listen " + busy.Addr().String(), "address already in use"}},
		{"admin port in use", append(base[:6:6], "-listen", "127.0.0.1:0", "-admin", busy.Addr().String()), exitFail, []string{"admin listener", "address already in use"}},
		{"data is a file", []string{"-origin", "http://127.0.0.1:9", "-listen", "127.0.0.1:0", "-admin", "", "-data", filepath.Join(notDir, "sub")}, exitFail, []string{"edged: data directory:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := runEdged(t, tt.args...)
			if p.public != "" {
				p.stop(t)
				t.Fatal("edged started")
			}
			if code := p.wait(t); code != tt.wantCode {
				t.Errorf("exit code %d, want %d", code, tt.wantCode)
			}
			for _, w := range tt.want {
				if !strings.Contains(p.stderr.String(), w) {
					t.Errorf("stderr %q\nlacks %q", p.stderr, w)
				}
			}
		})
	}
}

// TestMemoryLimitLogNamesTheTier: the start's "memory limit" line gives
// the memory tier's real size, three eighths of cache.memory; it logged
// cache.memory itself as memory_tier, 8/3 of what the tier gets.
func TestMemoryLimitLogNamesTheTier(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "") // else edged leaves the runtime's limit alone and says nothing
	origin := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(origin.Close)
	cfg := filepath.Join(t.TempDir(), "edged.yaml")
	if err := os.WriteFile(cfg, []byte("cache:\n  memory: 64MiB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := runEdged(t, "-config", cfg, "-origin", origin.URL, "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-data", t.TempDir())
	if p.public == "" {
		t.Fatalf("edged did not start:\n%s", p.stderr)
	}
	var rec struct {
		Msg         string `json:"msg"`
		Bytes       int64  `json:"bytes"`
		CacheMemory int64  `json:"cache_memory"`
		MemoryTier  int64  `json:"memory_tier"`
	}
	for _, line := range strings.Split(p.stderr.String(), "\n") {
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "memory limit" {
			break
		}
	}
	if rec.Msg != "memory limit" || rec.Bytes != 64<<20 || rec.CacheMemory != 64<<20 || rec.MemoryTier != 24<<20 {
		t.Errorf("memory limit line %+v, want bytes and cache_memory 64 MiB, memory_tier 24 MiB (3/8)\n%s", rec, p.stderr)
	}
}
