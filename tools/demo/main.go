// Command demo runs a local edged demo: the demo origin and one edged node in
// front of it (or, with -shield, an edge node that fetches through a shield
// node). It prints curl commands to try, writes the children's logs under
// the data directory, and on Ctrl-C (or SIGTERM) stops every child and waits
// for it. It is what `make run` and `make run-shield` start.
//
//	demo [-shield] [-bin DIR] [-data DIR]
//
// The children are the binaries edged and demo-origin found in -bin (by
// default the directory of this program, as `make build` lays them out).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

// Fixed demo addresses (the ones docs and the printed commands use).
const (
	originAddr      = "127.0.0.1:9000"
	edgeAddr        = "127.0.0.1:8080"
	edgeAdminAddr   = "127.0.0.1:8081"
	shieldAddr      = "127.0.0.1:8090"
	shieldAdminAddr = "127.0.0.1:8091"
	// shieldNATSAddr is where the shield's in-process NATS takes the edge,
	// so that a purge sent to either node reaches both.
	shieldNATSAddr = "127.0.0.1:8092"
)

// natsTokenEnv names the variable holding the demo bus's NATS token: a
// listening NATS must require one (purge.nats.token_env).
const natsTokenEnv = "EDGED_DEMO_NATS_TOKEN"

func main() {
	shield := flag.Bool("shield", false, "run an edge node that fetches through a shield node")
	bin := flag.String("bin", "", "`directory` holding the edged and demo-origin binaries (default: this program's)")
	data := flag.String("data", "./data", "data `directory` (cache files and logs)")
	flag.Parse()
	if *bin == "" {
		exe, err := os.Executable()
		if err != nil {
			fail(err)
		}
		*bin = filepath.Dir(exe)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, plan(*bin, *data, *shield)); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "demo:", err)
	os.Exit(1)
}

// plan lists the children in start order; they are stopped in reverse.
func plan(bin, data string, shield bool) []child {
	edged := filepath.Join(bin, "edged")
	env := []string{"EDGED_PURGE_TOKEN=" + purgeToken()}
	origin := child{name: "demo-origin", path: filepath.Join(bin, "demo-origin"),
		url: "http://" + originAddr, args: []string{"-listen", originAddr}, ready: "http://" + originAddr + "/_stats"}
	if !shield {
		return []child{origin, {name: "edged", path: edged, url: "http://" + edgeAddr, ready: "http://" + edgeAdminAddr + "/healthz",
			args: []string{"-origin", "http://" + originAddr, "-listen", edgeAddr, "-admin", edgeAdminAddr, "-data", data}, env: env}}
	}
	// The two nodes share the shield's NATS: the purge bus the flags cannot
	// set up alone (a listening NATS needs a token named in the config).
	env = append(env, natsTokenEnv+"=demo-nats")
	shieldCfg, edgeCfg := filepath.Join(data, "shield.yaml"), filepath.Join(data, "edge.yaml")
	return []child{
		origin,
		{name: "edged-shield", path: edged, url: "http://" + shieldAddr, ready: "http://" + shieldAdminAddr + "/healthz",
			args: []string{"-config", shieldCfg, "-role", "shield", "-origin", "http://" + originAddr, "-listen", shieldAddr,
				"-admin", shieldAdminAddr, "-data", filepath.Join(data, "shield")}, env: env,
			config: shieldCfg, configYAML: "purge:\n  nats:\n    listen: " + shieldNATSAddr + "\n    token_env: " + natsTokenEnv + "\n"},
		{name: "edged", path: edged, url: "http://" + edgeAddr, ready: "http://" + edgeAdminAddr + "/healthz",
			args: []string{"-config", edgeCfg, "-shield", "http://" + shieldAddr, "-listen", edgeAddr,
				"-admin", edgeAdminAddr, "-data", filepath.Join(data, "edge")}, env: env,
			config: edgeCfg, configYAML: "purge:\n  nats:\n    url: nats://" + shieldNATSAddr + "\n    token_env: " + natsTokenEnv + "\n"},
	}
}
