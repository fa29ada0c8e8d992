package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestPlan(t *testing.T) {
	tests := []struct {
		shield    bool
		wantNames []string
		wantData  []string // -data of each edged
	}{
		{false, []string{"demo-origin", "edged"}, []string{"d"}},
		{true, []string{"demo-origin", "edged-shield", "edged"}, []string{"d/shield", "d/edge"}},
	}
	for _, tt := range tests {
		children := plan("/b", "d", tt.shield)
		var names, data []string
		for _, c := range children {
			names = append(names, c.name)
			if !strings.HasPrefix(c.path, "/b/") {
				t.Errorf("%s path %q not in -bin", c.name, c.path)
			}
			for i, a := range c.args {
				if a == "-data" {
					data = append(data, c.args[i+1])
				}
			}
			// Every address the child binds is checked before the start.
			for i, a := range c.args {
				if a == "-listen" || a == "-admin" || a == "-nats-listen" {
					found := false
					for _, l := range c.listens {
						found = found || l.addr == c.args[i+1]
					}
					if !found {
						t.Errorf("%s binds %s %s, which is not in its listens %v", c.name, a, c.args[i+1], c.listens)
					}
				}
			}
		}
		if !reflect.DeepEqual(names, tt.wantNames) || !reflect.DeepEqual(data, tt.wantData) {
			t.Errorf("shield=%v: names %v data %v, want %v %v", tt.shield, names, data, tt.wantNames, tt.wantData)
		}
	}
	// The shield demo's nodes share one purge bus, the shield's NATS, with
	// a token; the edge fetches through the shield.
	sh := plan("/b", "d", true)
	shieldArgs, edgeArgs := strings.Join(sh[1].args, " "), strings.Join(sh[2].args, " ")
	if !strings.Contains(shieldArgs, "-nats-listen "+shieldNATSAddr) || !strings.Contains(edgeArgs, "-nats nats://"+shieldNATSAddr) {
		t.Errorf("shield args %q, edge args %q: not one bus", shieldArgs, edgeArgs)
	}
	if !strings.Contains(strings.Join(sh[1].env, " "), "EDGED_NATS_TOKEN=") || !strings.Contains(strings.Join(sh[2].env, " "), "EDGED_NATS_TOKEN=") {
		t.Errorf("shield env %v, edge env %v: the bus needs EDGED_NATS_TOKEN on both", sh[1].env, sh[2].env)
	}
	if !strings.Contains(edgeArgs, "-shield http://"+shieldAddr) {
		t.Errorf("edge args %q", edgeArgs)
	}
}

// TestPlanMatchesREADME: `make run-shield` and the README's "Edge → shield →
// origin" commands are one setup (issue 12: they differed, and the README's
// expected output named a shield the demo does not run).
func TestPlanMatchesREADME(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	i := strings.Index(section, "### Edge → shield → origin on one machine")
	if i < 0 {
		t.Fatal("README has no \"Edge → shield → origin on one machine\" section")
	}
	section = section[i:]
	block := section[strings.Index(section, "```sh")+len("```sh") : strings.Index(section, "```\n\n")]
	block = strings.ReplaceAll(block, "\\\n", " ")
	var commands [][]string
	exported := map[string]bool{}
	for _, line := range strings.Split(block, "\n") {
		f := strings.Fields(line)
		if len(f) > 3 && f[0] == "go" && f[1] == "run" {
			commands = append(commands, f[3:])
		}
		for j := 1; len(f) > 0 && f[0] == "export" && j < len(f) && !strings.HasPrefix(f[j], "#"); j++ {
			exported[f[j][:strings.Index(f[j]+"=", "=")]] = true
		}
	}
	children := plan("bin", "./data", true)
	if len(commands) != len(children) {
		t.Fatalf("README starts %d programs, the demo %d:\n%s", len(commands), len(children), block)
	}
	for i, c := range children {
		got := strings.Join(normalizeArgs(commands[i]), " ")
		want := strings.Join(normalizeArgs(c.args), " ")
		if got != want {
			t.Errorf("README runs %s with\n  %s\nthe demo with\n  %s", c.name, got, want)
		}
		for _, kv := range c.env {
			name := kv[:strings.Index(kv, "=")]
			if !exported[name] {
				t.Errorf("README does not export %s, which the demo gives %s", name, c.name)
			}
		}
	}
	// The expected Cache-Status names the caches the demo runs.
	want := regexp.MustCompile(`# Cache-Status: ` + children[1].name + `; fwd=uri-miss; .*, ` + children[2].name + `; fwd=uri-miss;`)
	if !want.MatchString(block) {
		t.Errorf("README's expected Cache-Status does not name %s then %s:\n%s", children[1].name, children[2].name, block)
	}
}

// normalizeArgs drops the trailing "&" of a shell line and cleans paths.
func normalizeArgs(args []string) []string {
	var out []string
	for _, a := range args {
		if a == "&" {
			continue
		}
		if strings.HasPrefix(a, "./") {
			a = filepath.Clean(a)
		}
		out = append(out, a)
	}
	return out
}

// A second demo while one runs (issue 12): the taken port is named before
// any child starts, and the running demo's log is left as it is (the old
// demo truncated it, and the running process's next writes left NUL bytes).
func TestRunRefusesTakenPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	data := t.TempDir()
	logPath := filepath.Join(data, "logs", "edged.log")
	const running = "the running demo's log line\n"
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(logPath, []byte(running), 0o644); err != nil {
		t.Fatal(err)
	}
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.Addr().String()
	free.Close()
	children := []child{
		{name: "demo-origin", path: "/nonexistent/demo-origin", listens: []listen{{"-listen", freeAddr}}},
		{name: "edged", path: "/nonexistent/edged", listens: []listen{{"-listen", taken.Addr().String()}}},
	}
	err = run(context.Background(), data, children)
	if err == nil || !strings.Contains(err.Error(), "port "+taken.Addr().String()+" is taken") || !strings.Contains(err.Error(), "edged -listen") {
		t.Fatalf("run = %v, want the taken port named", err)
	}
	if got, _ := os.ReadFile(logPath); string(got) != running {
		t.Errorf("the running demo's log became %q", got)
	}
	if _, err := os.Stat(filepath.Join(data, "logs", "demo-origin.log")); !os.IsNotExist(err) {
		t.Errorf("a log was opened before the ports were checked (stat: %v)", err)
	}
}

// A child's log is appended to, after a line marking the run; the tail
// shown when it fails at start is this run's.
func TestChildLogAppends(t *testing.T) {
	logs := t.TempDir()
	path := filepath.Join(logs, "c.log")
	if err := os.WriteFile(path, []byte("earlier run\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for run := range 2 {
		c := &child{name: "c", path: "/bin/sh", args: []string{"-c", "echo this run"}}
		if err := c.start(logs); err != nil {
			t.Fatal(err)
		}
		<-c.done
		if c.err != nil {
			t.Fatal(c.err)
		}
		if got := tail(c.log, c.logFrom); got != "this run" {
			t.Errorf("run %d: tail = %q, want this run's output only", run, got)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("earlier run\n")) || bytes.Count(b, []byte("this run\n")) != 2 || bytes.Count(b, []byte("=== demo: c ")) != 2 ||
		bytes.IndexByte(b, 0) >= 0 {
		t.Errorf("log after two runs:\n%q", b)
	}
}

// TestPlanForward: `make run-forward` runs the origin and a forward proxy
// that reads the demo's file (the origin is on loopback) and binds only
// the addresses it checks.
func TestPlanForward(t *testing.T) {
	children := planForward("/b", "d")
	if len(children) != 2 || children[0].name != "demo-origin" || children[1].name != "edged-forward" {
		t.Fatalf("children %v", children)
	}
	args := strings.Join(children[1].args, " ")
	for _, want := range []string{"-role forward", "-listen " + forwardAddr, "-config " + filepath.Join("d", "forward.yaml"), "-data " + filepath.Join("d", "forward")} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	if !strings.Contains(forwardConfig, "allow_networks: [127.0.0.1/32]") || !strings.Contains(forwardConfig, "role: forward") {
		t.Errorf("forward.yaml:\n%s", forwardConfig)
	}
}

// TestChildOwnProcessGroup: a terminal's Ctrl-C signals its foreground
// process group; a child in the demo's group got the SIGINT too and could
// exit before the demo noticed it, which the demo then reported as a crash
// (make run ended with an error one Ctrl-C in six). Each child now has a
// group of its own and is stopped by the demo.
func TestChildOwnProcessGroup(t *testing.T) {
	c := &child{name: "c", path: "/bin/sh", args: []string{"-c", "exec sleep 60"}}
	if err := c.start(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	defer func() { stopAll([]*child{c}) }()
	pgid, err := syscall.Getpgid(c.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if pgid == syscall.Getpgrp() {
		t.Errorf("child's process group %d is the demo's: a terminal's Ctrl-C would reach it", pgid)
	}
}

// Each signal that ends a make run (Ctrl-C, kill, the terminal closing)
// cancels the demo's context, so it stops its children. SIGHUP did not:
// it killed the demo (this test's process, on the old code) and left the
// children, each in its own process group, running on the demo's ports.
func TestStopContextSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM} {
		ctx, stop := stopContext()
		if err := syscall.Kill(os.Getpid(), sig); err != nil {
			stop()
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
			t.Errorf("%v: the demo's context was not cancelled", sig)
		}
		stop()
	}
}
