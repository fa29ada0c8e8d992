package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnit checks examples/edged.service with systemd-analyze
// verify, with the unit's binary path pointed at a real build (verify
// refuses an ExecStart whose program does not exist).
func TestSystemdUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed: examples/edged.service is not verified")
	}
	unit, err := os.ReadFile(filepath.Join("..", "..", "..", "examples", "edged.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"User=edged", "StateDirectory=edged", "LogsDirectory=edged", "LimitNOFILE=", "NoNewPrivileges=yes", "ProtectSystem=strict", "ExecReload=/bin/kill -HUP $MAINPID", "edged -t -config"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("examples/edged.service lacks %q", want)
		}
	}
	text := strings.ReplaceAll(string(unit), "/usr/local/bin/edged", edgedBinary(t))
	path := filepath.Join(t.TempDir(), "edged.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	// --man=no: the Documentation= file need not exist on the test machine.
	out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "Failed to connect") || strings.Contains(string(out), "System has not been booted with systemd") {
			t.Skipf("systemd-analyze cannot run here: %s", out)
		}
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// verify exits 0 on some warnings; a warning about our unit is a defect.
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "edged.service") {
			t.Errorf("systemd-analyze verify: %s", line)
		}
	}
}
