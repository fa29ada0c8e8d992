package main

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// TestVersionFlag runs the built binary: the revision comes from the
// toolchain's VCS stamp, which only a real build has.
func TestVersionFlag(t *testing.T) {
	out, err := exec.Command(edgedBinary(t), "-version", "-config", "/nonexistent/edged.yaml").CombinedOutput()
	if err != nil {
		t.Fatalf("edged -version: %v\n%s", err, out)
	}
	// -version answers before reading any configuration: a broken one
	// must not hide which binary is installed.
	re := regexp.MustCompile(`^edged \S+ \(revision ([0-9a-f]{40}(\+dirty)?|unknown), go1\.[^)]*\)\n$`)
	if !re.Match(out) {
		t.Errorf("edged -version = %q, want it to match %s", out, re)
	}
	if !strings.Contains(string(out), runtime.Version()) {
		t.Errorf("edged -version = %q lacks the Go version %s", out, runtime.Version())
	}
}

func TestBuildInfoMetric(t *testing.T) {
	origin, _ := countingOrigin(t)
	p := runEdged(t, "-origin", origin.URL, "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-data", t.TempDir())
	if p.admin == "" {
		t.Fatalf("edged exited at start (%v)", p.exitErr)
	}
	_, metrics := fetch(t, p.admin+"/metrics")
	re := regexp.MustCompile(`(?m)^edged_build_info\{goversion="go1\.[^"]*",revision="[^"]+",version="[^"]+"\} 1$`)
	if !re.MatchString(metrics) {
		t.Errorf("/metrics has no line matching %s:\n%s", re, grepLines(metrics, "build_info"))
	}
	if code := p.stop(t); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

func grepLines(s, sub string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// TestCheckConfig runs edged -t through run with real files: every problem
// of a file is printed at once, each with its line and field, and a good
// file passes without a port being taken.
func TestCheckConfig(t *testing.T) {
	bad := writeFile(t, "bad.yaml", `upstream:
  origin: http://127.0.0.1:9
cache:
  memory: 12XB
  bogus: 1
tls:
  listen: 127.0.0.1:0
  certificates:
    - {cert: /nonexistent/a.crt, key: /nonexistent/a.key}
`)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-t", "-config", bad}, &stdout, &stderr)
	if code != exitConfig {
		t.Errorf("edged -t on a bad file: exit %d, want %d", code, exitConfig)
	}
	if strings.Contains(stdout.String(), "OK") {
		t.Errorf("stdout says OK for a bad file: %q", stdout.String())
	}
	for _, want := range []string{
		"bad.yaml:4: cache.memory",
		"bad.yaml:5: unknown field \"bogus\" in cache",
		"bad.yaml:9: tls.certificates[0].cert", "bad.yaml:9: tls.certificates[0].key",
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}

	// A port in use would stop a start; -t does not listen, so it passes.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	good := writeFile(t, "good.yaml", "upstream:\n  origin: http://127.0.0.1:9\nlisten: "+busy.Addr().String()+"\n")
	stdout.Reset()
	stderr.Reset()
	if code := run(context.Background(), []string{"-t", "-config", good, "-data", t.TempDir()}, &stdout, &stderr); code != exitOK {
		t.Errorf("edged -t on a good file: exit %d, stderr:\n%s", code, stderr.String())
	}
	if stdout.String() != "edged: configuration OK\n" {
		t.Errorf("stdout = %q, want the OK line", stdout.String())
	}
}
