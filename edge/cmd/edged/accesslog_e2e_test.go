package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// combinedLineRE reads one combined-format line.
var combinedLineRE = regexp.MustCompile(`^(\S+) - (\S+) \[([^\]]+)\] "(\S+) (\S+) (\S+)" (\d{3}) (\d+) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"$`)

// Issue #15: log.access.file is reopened on SIGUSR1, as logrotate expects:
// after the file is renamed and the signal sent, lines go to a new file of
// the old name; SIGTERM writes the lines still buffered (flush is an hour
// here, so only the reopen and the stop write anything).
func TestAccessLogFileReopenedOnSIGUSR1(t *testing.T) {
	origin, _ := countingOrigin(t)
	dir := t.TempDir()
	logFile := filepath.Join(dir, "access.log")
	cfg := writeFile(t, "edged.yaml", fmt.Sprintf(`
listen: 127.0.0.1:0
admin: ""
data: %s
log:
  access: {format: combined, file: %s, flush: 1h}
upstream: {origin: %s}
`, filepath.Join(dir, "data"), logFile, origin.URL))
	p := runEdged(t, "-config", cfg)
	if p.public == "" {
		t.Fatalf("edged exited at start (%v)", p.exitErr)
	}
	if resp, _ := fetch(t, p.public+"/before-rotate", "User-Agent", "e2e"); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if err := os.Rename(logFile, logFile+".1"); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(startTimeout); !strings.Contains(p.stderr.String(), "access log reopened"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no reopen logged after SIGUSR1")
		}
	}
	if resp, _ := fetch(t, p.public+"/after-rotate", "User-Agent", "e2e"); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	for file, path := range map[string]string{logFile + ".1": "/before-rotate", logFile: "/after-rotate"} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		if len(lines) != 1 {
			t.Fatalf("%s has %d lines, want 1: %q", filepath.Base(file), len(lines), data)
		}
		m := combinedLineRE.FindStringSubmatch(lines[0])
		if m == nil || m[1] != "127.0.0.1" || m[4] != "GET" || m[5] != path || m[7] != "200" || m[10] != "e2e" {
			t.Errorf("%s: line %q, want a combined line for GET %s", filepath.Base(file), lines[0], path)
		}
	}
}
