package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(bad, []byte("upstream:\n  origin: http://127.0.0.1:9\ncache:\n  memory: 12XB\n  bogus: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(good, []byte("upstream:\n  origin: http://127.0.0.1:9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"config", "check", good, bad}, env(nil), &stdout, &stderr)
	if code != exitFail {
		t.Errorf("exit %d, want %d", code, exitFail)
	}
	if stdout.String() != good+": configuration OK\n" {
		t.Errorf("stdout %q", stdout.String())
	}
	for _, want := range []string{"bad.yaml:4: cache.memory", `bad.yaml:5: unknown field "bogus"`} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	// A valid file's own warnings are printed as edged -t prints them: a
	// canary route without the access rules of the route its path falls back to.
	// They were not printed at all.
	warned := filepath.Join(dir, "warned.yaml")
	if err := os.WriteFile(warned, []byte(`upstream: {origin: "http://127.0.0.1:9"}
sites:
  - name: s
    hosts: [s.example]
    routes:
      - {path: /, access: {deny: [192.0.2.0/24]}}
      - {path: /, match: {headers: {X-Canary: "1"}}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stderr.Reset()
	if code := run(context.Background(), []string{"config", "check", warned}, env(nil), &stdout, &stderr); code != exitOK {
		t.Errorf("a file with warnings: exit %d, want %d", code, exitOK)
	}
	if want := "edgectl config check: warning: " + warned + ":7: sites[0].routes[1].match:"; !strings.Contains(stderr.String(), want) || !strings.Contains(stderr.String(), "lacks the access") {
		t.Errorf("stderr %q lacks the warning %q", stderr.String(), want)
	}
	if stdout.String() != warned+": configuration OK\n" {
		t.Errorf("stdout %q", stdout.String())
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"config", "check"}, env(nil), &stdout, &stderr); code != exitUsage {
		t.Errorf("no file: exit %d, want %d", code, exitUsage)
	}
}

func TestVersion(t *testing.T) {
	for _, arg := range []string{"--version", "-version", "version"} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{arg}, env(nil), &stdout, &stderr)
		if code != exitOK || !regexp.MustCompile(`^edgectl \S+ \(revision \S+, go1\.[^)]*\)\n$`).MatchString(stdout.String()) {
			t.Errorf("%s: exit %d, stdout %q", arg, code, stdout.String())
		}
	}
}
