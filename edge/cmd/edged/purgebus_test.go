package main

// The purge bus as an operator sets it up (issue 12): the documented
// edge → shield fleet, from the example files and from flags alone, shares
// one bus; a private bus in a tier is warned about; a clean stop is quiet.

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"edged/edge/config"
	"edged/internal/logtest"
)

// checkPurgeReachesShield caches path on edge (through shield), purges it
// through the edge's API, and checks that the next GET reaches the origin:
// the shield no longer holds its copy either.
func checkPurgeReachesShield(t *testing.T, edge, shield *fleetNode, fetches *atomic.Int64) {
	t.Helper()
	const path = "/static/app.js"
	edge.get(t, path)
	if !edge.hit(t, path) {
		t.Fatalf("%s not cached on the edge", path)
	}
	if got := fetches.Load(); got != 1 {
		t.Fatalf("origin fetches = %d, want 1 (through the shield)", got)
	}
	answer := edge.purge(t, `{"urls":["http://www.example.com`+path+`"]}`)
	// Both nodes must apply it; the edge answers once it has, the shield
	// applies it from the shared bus.
	waitApplied(t, answer, []*fleetNode{edge, shield})
	resp := edge.get(t, path)
	if got := fetches.Load(); got != 2 {
		t.Fatalf("after a purge through the edge, origin fetches = %d, want 2: the edge refilled the object from the shield's stale copy (Cache-Status %q)",
			got, resp.Header.Get("Cache-Status"))
	}
}

// warnings returns the messages logged at WARN or above.
func warnings(t testing.TB, buf *logtest.Buffer) []string {
	t.Helper()
	var out []string
	for _, rec := range buf.Lines(t, "") {
		if rec["level"] == "WARN" || rec["level"] == "ERROR" {
			out = append(out, fmt.Sprintf("%s %v (err %v)", rec["level"], rec["msg"], rec["err"]))
		}
	}
	return out
}

// loadExample loads one of examples/edge-shield and moves it onto free
// loopback ports and a temporary data directory.
func loadExample(t *testing.T, name string) *config.Config {
	t.Helper()
	cfg, err := config.Load(filepath.Join("..", "..", "..", "examples", "edge-shield", name))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen, cfg.Admin, cfg.Data = "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	cfg.Log.Access.Off = true
	cfg.Server.ShutdownTimeout = config.Duration(5 * time.Second)
	return cfg
}

// TestExampleEdgeShieldSharesOneBus starts the shield and the edge of
// examples/edge-shield (ports replaced by free ones) and purges through
// the edge: the shield must drop its copy too. With the old examples each
// node had a private bus; the purge answered count 1 and the next GET was
// refilled from the shield's stale copy.
func TestExampleEdgeShieldSharesOneBus(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two nodes with NATS; skipped with -short")
	}
	origin, fetches := faultsOrigin(t)
	t.Setenv(config.NATSTokenEnv, "example-nats-token")
	t.Setenv("EDGED_PURGE_TOKEN", purgeToken)

	shieldCfg := loadExample(t, "shield.yaml")
	if shieldCfg.Purge.NATS.Listen == "" {
		t.Fatal("examples/edge-shield/shield.yaml: purge.nats.listen is not set: its edges cannot share its bus")
	}
	exampleListen, natsAddr := shieldCfg.Purge.NATS.Listen, freeAddr(t)
	shieldCfg.Purge.NATS.Listen = natsAddr
	shieldCfg.Upstream.Origin = origin.URL
	var shieldLog, edgeLog logtest.Buffer
	shield := validServeNode(t, shieldCfg, &shieldLog)

	edgeCfg := loadExample(t, "edge.yaml")
	if want := "nats://" + exampleListen; edgeCfg.Purge.NATS.URL != want {
		t.Fatalf("examples/edge-shield/edge.yaml: purge.nats.url = %q, want the shield's listener %q", edgeCfg.Purge.NATS.URL, want)
	}
	edgeCfg.Purge.NATS.URL = "nats://" + natsAddr
	edgeCfg.Upstream.Shields = []string{shield.public}
	edgeCfg.Upstream.Origin = origin.URL
	edge := validServeNode(t, edgeCfg, &edgeLog)

	checkPurgeReachesShield(t, edge, shield, fetches)
	edge.stop()
	shield.stop()
	for name, buf := range map[string]*logtest.Buffer{"shield": &shieldLog, "edge": &edgeLog} {
		if w := warnings(t, buf); len(w) > 0 {
			t.Errorf("the %s of the example logged warnings: %q", name, w)
		}
	}
}

// validServeNode validates cfg and serves it.
func validServeNode(t *testing.T, cfg *config.Config, stderr *logtest.Buffer) *fleetNode {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return serveNode(t, cfg, stderr)
}

// TestFlagsOnlyFleet: a shield with -nats-listen and an edge with -nats,
// configured by flags and the environment alone (EDGED_NATS_TOKEN,
// EDGED_PURGE_TOKEN), share one authenticated bus. The old code refused
// -nats-listen without purge.nats.token_env in a config file.
func TestFlagsOnlyFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two nodes with NATS; skipped with -short")
	}
	origin, fetches := faultsOrigin(t)
	natsAddr := freeAddr(t)
	t.Setenv("EDGED_PURGE_TOKEN", purgeToken)

	shieldArgs := []string{"-role", "shield", "-origin", origin.URL, "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0",
		"-data", t.TempDir(), "-nats-listen", natsAddr}
	t.Setenv(config.NATSTokenEnv, "")
	if _, err := parseArgs(shieldArgs); err == nil || !strings.Contains(err.Error(), config.NATSTokenEnv) {
		t.Fatalf("-nats-listen without %s: err = %v, want a refusal naming the variable", config.NATSTokenEnv, err)
	}
	t.Setenv(config.NATSTokenEnv, "flags-nats-token")
	shield := serveArgs(t, shieldArgs)
	edge := serveArgs(t, []string{"-shield", shield.public, "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0",
		"-data", t.TempDir(), "-nats", "nats://" + natsAddr})
	checkPurgeReachesShield(t, edge, shield, fetches)
}

// serveArgs starts a node from a command line, as edged would.
func serveArgs(t *testing.T, args []string) *fleetNode {
	t.Helper()
	cfg, err := parseArgs(args)
	if err != nil {
		t.Fatalf("edged %v: %v", args, err)
	}
	cfg.Log.Access.Off = true
	cfg.Server.ShutdownTimeout = config.Duration(5 * time.Second)
	return serveNode(t, cfg, &logtest.Buffer{})
}

// TestPrivateBusWarning: a node in a tier (with shields, or a shield) whose
// bus is in-process only says so at startup, naming the fix; a lone edge or
// a node on a shared bus does not.
func TestPrivateBusWarning(t *testing.T) {
	tests := []struct {
		name string
		set  func(*config.Config)
		want string // "" means no warning
	}{
		{"lone edge", func(*config.Config) {}, ""},
		{"edge with a shield", func(c *config.Config) { c.Upstream.Shields = []string{"http://127.0.0.1:8090"} },
			"purge bus is private to this edge"},
		{"edge with a site's shield", func(c *config.Config) {
			c.Sites = []config.Site{{Name: "s", Shields: []string{"http://127.0.0.1:8090"}}}
		}, "purge bus is private to this edge"},
		{"shield", func(c *config.Config) { c.Role = config.RoleShield }, "purge bus is private to this shield"},
		{"shield listening", func(c *config.Config) { c.Role, c.Purge.NATS.Listen = config.RoleShield, "127.0.0.1:8092" }, ""},
		{"edge on a shared bus", func(c *config.Config) {
			c.Upstream.Shields, c.Purge.NATS.URL = []string{"http://127.0.0.1:8090"}, "nats://127.0.0.1:8092"
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			tt.set(cfg)
			var w []string
			for _, sw := range startWarnings(cfg) {
				if strings.Contains(sw.msg, "purge bus is private") {
					w = append(w, sw.msg)
				}
			}
			switch {
			case tt.want == "" && len(w) > 0:
				t.Errorf("warned %q, want nothing", w)
			case tt.want != "" && (len(w) != 1 || !strings.Contains(w[0], tt.want) || !strings.Contains(w[0], config.NATSTokenEnv)):
				t.Errorf("warned %q, want one warning containing %q and naming %s", w, tt.want, config.NATSTokenEnv)
			}
		})
	}
}

// TestCleanStopLogsNoWarning: starting and stopping a node cleanly logs no
// warning; the old code logged `WARN purge bus disconnected ... "err":null`
// when Close ended its own NATS connection.
func TestCleanStopLogsNoWarning(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node with NATS; skipped with -short")
	}
	origin, _ := faultsOrigin(t)
	t.Setenv("EDGED_PURGE_TOKEN", purgeToken)
	cfg := nodeConfig(t, "quiet", t.TempDir())
	cfg.Upstream.Origin = origin.URL
	cfg.Log.Access.Off = true
	var log logtest.Buffer
	f := validServeNode(t, cfg, &log)
	f.stop() // the bus's Close returns after NATS's last callback
	stopped := false
	for _, rec := range log.Lines(t, "") {
		stopped = stopped || rec["msg"] == "stopped cleanly"
	}
	if !stopped {
		t.Fatalf("no \"stopped cleanly\" in the log:\n%s", log.String())
	}
	if w := warnings(t, &log); len(w) > 0 {
		t.Errorf("a clean start and stop logged %q", w)
	}
}
