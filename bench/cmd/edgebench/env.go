package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"edged/bench/report"
)

// tools are the external programs, "" when missing; why says why.
type tools struct {
	wrk, nginx, varnishd string
	why                  map[string]string // tool → reason it is missing
}

func lookPath(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// findTools finds wrk, nginx and varnishd, installing the missing ones
// with apt-get when allowed (-install, root, apt-get present).
func findTools(ctx context.Context, o options) tools {
	t := tools{why: map[string]string{}}
	look := func() { t.wrk, t.nginx, t.varnishd = lookPath("wrk"), lookPath("nginx"), lookPath("varnishd") }
	look()
	missing := t.wrk == "" || t.nginx == "" || t.varnishd == ""
	reason := ""
	if missing {
		reason = aptInstall(ctx, o, "nginx", "varnish", "wrk")
		look()
	}
	for name, path := range map[string]string{"wrk": t.wrk, "nginx": t.nginx, "varnishd": t.varnishd} {
		if path == "" {
			if reason == "" {
				reason = "not found after installing"
			}
			t.why[name] = name + " " + reason
			logf("%s", t.why[name])
		}
	}
	return t
}

// aptInstall installs Debian packages when allowed (-install, root,
// apt-get present); it returns why they could not be, "" when they were.
func aptInstall(ctx context.Context, o options, pkgs ...string) string {
	switch {
	case !o.install:
		return "not installed (and -install=false)"
	case os.Geteuid() != 0:
		return "not installed, and installing needs root"
	case lookPath("apt-get") == "":
		return "not installed, and there is no apt-get"
	}
	logf("installing %s with apt-get", strings.Join(pkgs, ", "))
	ictx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ictx, "sh", "-c", "apt-get update -q && apt-get install -y -q "+strings.Join(pkgs, " "))
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Sprintf("apt-get install failed: %v: %s", err, tail(string(out), 300))
	}
	return ""
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// binaries are the programs built from this module.
type binaries struct{ edged, origin string }

// buildBinaries builds edged and benchorigin into dir (or uses -bin).
func buildBinaries(ctx context.Context, o options, dir string) (binaries, error) {
	if o.bin != "" {
		return binaries{filepath.Join(o.bin, "edged"), filepath.Join(o.bin, "benchorigin")}, nil
	}
	out := filepath.Join(dir, "bin")
	logf("building edged and benchorigin")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out+"/", "./edge/cmd/edged", "./bench/cmd/benchorigin")
	cmd.Dir = moduleRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		return binaries{}, fmt.Errorf("go build: %w: %s", err, b)
	}
	return binaries{filepath.Join(out, "edged"), filepath.Join(out, "benchorigin")}, nil
}

// moduleRoot is the directory of go.mod (the current directory when the
// go command cannot say).
func moduleRoot() string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err == nil {
		if mod := strings.TrimSpace(string(out)); mod != "" && mod != os.DevNull {
			return filepath.Dir(mod)
		}
	}
	return "."
}

// version runs argv and returns the first line of its output.
func version(ctx context.Context, argv ...string) string {
	if argv[0] == "" {
		return "not installed"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if line == "" {
		return "unknown"
	}
	return line
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func machine(ctx context.Context, o options, t tools, lg string) report.Machine {
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	wrkV := version(ctx, t.wrk, "-v")
	wrkV, _, _ = strings.Cut(wrkV, " Copyright")
	return report.Machine{
		NProc:         runtime.NumCPU(),
		CPU:           cpuModel(),
		Kernel:        strings.TrimSpace(string(kernel)),
		Go:            version(ctx, "go", "version"),
		Nginx:         version(ctx, t.nginx, "-v"),
		Varnish:       version(ctx, t.varnishd, "-V"),
		Wrk:           wrkV,
		Date:          time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		Mode:          pick(o.quick, fmt.Sprintf("Quick (BENCH_QUICK=1: %d reps × %v)", o.reps, o.duration), fmt.Sprintf("Full (%d reps × %v)", o.reps, o.duration)),
		LoadGenerator: lg,
	}
}
