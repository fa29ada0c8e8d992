package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"edged/edge/config"
)

// TestCheckShowsStartWarnings: edged -t prints every warning a start logs
// about its configuration. The old -t printed only the configuration's
// own (config.Config.Warnings): a short purge token on a reachable admin
// listener, an open forward proxy and the purge bus's warnings were
// learnt at the first start.
func TestCheckShowsStartWarnings(t *testing.T) {
	t.Setenv("EDGED_PURGE_TOKEN", "short")
	t.Setenv(config.NATSTokenEnv, "")
	// -t takes no port, so its file may name an admin address on every
	// interface, which a test must not listen on.
	fwd := writeFile(t, "forward.yaml", "role: forward\nlisten: 127.0.0.1:0\nadmin: 0.0.0.0:0\nforward:\n  clients: [0.0.0.0/0]\n")
	stderr := checkStderr(t, fwd)
	for _, want := range []string{
		"edged: warning: purge token is shorter than 16 characters and the admin listener is not loopback-only", "admin=0.0.0.0:0",
		"edged: warning: forward proxy is open", "network=0.0.0.0/0",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("edged -t stderr lacks %q:\n%s", want, stderr)
		}
	}

	// What a real start logs at WARN before it serves, -t prints.
	t.Setenv("EDGED_PURGE_TOKEN", "")
	edge := writeFile(t, "edge.yaml", "upstream:\n  shields: [http://127.0.0.1:9]\nlisten: 127.0.0.1:0\nadmin: 127.0.0.1:0\n")
	data := t.TempDir()
	stderr = checkStderr(t, edge)
	p := runEdged(t, "-config", edge, "-data", data)
	if p.admin == "" {
		t.Fatalf("edged exited at start (%v)", p.exitErr)
	}
	var started []string
	for _, rec := range p.stderr.Lines(t, "") {
		if rec["msg"] == "serving" {
			break
		}
		if rec["level"] == "WARN" {
			msg := fmt.Sprint(rec["msg"])
			started = append(started, msg)
			if !strings.Contains(stderr, "edged: warning: "+msg) {
				t.Errorf("a start warned %q, which edged -t does not print:\n%s", msg, stderr)
			}
		}
	}
	if code := p.stop(t); code != 0 {
		t.Errorf("exit code %d", code)
	}
	// The purge API off, the bus private to an edge with shields, and the
	// bus's unsigned events.
	if len(started) < 3 {
		t.Errorf("a start warned %q, want at least 3 warnings", started)
	}
}

// checkStderr runs edged -t on file and returns what it wrote to stderr.
func checkStderr(t *testing.T, file string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-t", "-config", file, "-data", t.TempDir()}, &stdout, &stderr); code != exitOK {
		t.Fatalf("edged -t %s: exit %d:\n%s", file, code, stderr.String())
	}
	if stdout.String() != "edged: configuration OK\n" {
		t.Errorf("stdout = %q, want the OK line", stdout.String())
	}
	return stderr.String()
}

// TestACMEStorageNATSWarning: tls.acme.storage: nats on a node whose NATS
// no other node reaches (no purge.nats.url, no purge.nats.listen) warns
// that no other node shares its certificates; with a listener it does not.
func TestACMEStorageNATSWarning(t *testing.T) {
	const want = "tls.acme.storage: nats, but this node's NATS is in-process only"
	yaml := func(nats string) []byte {
		return []byte("listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\ntls:\n  listen: 127.0.0.1:0\n  acme:\n    storage: nats\n" +
			"purge:\n  nats: {" + nats + "}\n" +
			"sites:\n  - name: edge\n    hosts: [edge.test]\n    routes: [{path: /, pool: origin}]\n" +
			"pools:\n  origin: {servers: [{url: 'http://127.0.0.1:9'}]}\n")
	}
	for _, tc := range []struct {
		nats string
		warn bool
	}{
		{"", true},
		{"listen: '127.0.0.1:4222'", false},
		{"url: 'nats://127.0.0.1:4222'", false},
	} {
		cfg, err := config.Parse(yaml(tc.nats), "edge.yaml")
		if err != nil {
			t.Fatalf("nats {%s}: %v", tc.nats, err)
		}
		found := false
		for _, w := range startWarnings(cfg) {
			found = found || strings.Contains(w.msg, want)
		}
		if found != tc.warn {
			t.Errorf("nats {%s}: warned %v, want %v", tc.nats, found, tc.warn)
		}
	}
}

// TestForwardFilesWarning: a forward proxy whose server.max_connections
// spliced tunnels (6 file descriptors each, measured) would need more than
// the process may open is told so by -t and at start, naming both numbers;
// past the limit tunnels would fail where the cap promised room. One
// within the limit is not.
func TestForwardFilesWarning(t *testing.T) {
	have := openFilesLimit()
	if have == 0 || have > 1<<30 {
		t.Skipf("RLIMIT_NOFILE %d: no max_connections to exceed it", have)
	}
	over := have/6 + 100
	fwd := writeFile(t, "forward.yaml", fmt.Sprintf("role: forward\nlisten: 127.0.0.1:0\nadmin: 127.0.0.1:0\nserver: {max_connections: %d}\n", over))
	stderr := checkStderr(t, fwd)
	for _, want := range []string{"edged: warning: forward proxy: server.max_connections tunnels need more file descriptors", fmt.Sprintf("files_limit=%d", have), fmt.Sprintf("max_connections=%d", over)} {
		if !strings.Contains(stderr, want) {
			t.Errorf("edged -t stderr lacks %q:\n%s", want, stderr)
		}
	}
	fits := writeFile(t, "fits.yaml", "role: forward\nlisten: 127.0.0.1:0\nadmin: 127.0.0.1:0\nserver: {max_connections: 100}\n")
	if stderr := checkStderr(t, fits); strings.Contains(stderr, "file descriptors") {
		t.Errorf("100 tunnels warned of file descriptors:\n%s", stderr)
	}
}
