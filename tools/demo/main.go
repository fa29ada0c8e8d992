// Command demo runs a local edged demo: the demo origin and one edged node in
// front of it (or, with -shield, an edge node that fetches through a shield
// node, the two sharing one purge bus). It prints curl commands to try,
// appends the children's logs to DATA/logs/NAME.log, and on Ctrl-C (or
// SIGTERM) stops every child and waits for it. It is what `make run` and
// `make run-shield` start; with -forward (`make run-forward`) the node is a
// forward proxy on 127.0.0.1:3128 instead, allowed to reach the demo origin
// on loopback (DATA/forward.yaml).
//
// It refuses to start, before any child starts or any log is opened, while
// another demo runs on the same data directory or while one of its ports
// is taken, naming the port.
//
//	demo [-shield | -forward] [-bin DIR] [-data DIR]
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

	"edged/internal/buildinfo"
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
	// The forward proxy of `make run-forward` (3128, Squid's port).
	forwardAddr      = "127.0.0.1:3128"
	forwardAdminAddr = "127.0.0.1:3129"
)

// natsToken is the demo bus's NATS token (EDGED_NATS_TOKEN): a listening
// NATS requires one. The caller's EDGED_NATS_TOKEN wins when set.
func natsToken() string {
	if t := os.Getenv("EDGED_NATS_TOKEN"); t != "" {
		return t
	}
	return "demo-nats"
}

func main() {
	shield := flag.Bool("shield", false, "run an edge node that fetches through a shield node")
	fwd := flag.Bool("forward", false, "run a forward proxy (role forward) on "+forwardAddr+" instead of an edge node")
	bin := flag.String("bin", "", "`directory` holding the edged and demo-origin binaries (default: this program's)")
	data := flag.String("data", "./data", "data `directory` (cache files and logs)")
	version := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *version {
		fmt.Println(buildinfo.Read().Line("demo"))
		return
	}
	if *bin == "" {
		exe, err := os.Executable()
		if err != nil {
			fail(err)
		}
		*bin = filepath.Dir(exe)
	}
	ctx, stop := stopContext()
	defer stop()
	children := plan(*bin, *data, *shield)
	if *fwd {
		if err := writeForwardConfig(*data); err != nil {
			fail(err)
		}
		children = planForward(*bin, *data)
	}
	if err := run(ctx, *data, children); err != nil {
		fail(err)
	}
}

// stopContext is cancelled by the signals that end a demo: Ctrl-C, a
// kill, and the terminal closing (SIGHUP). Each child has a process group
// of its own (so that Ctrl-C reaches the demo alone, which stops them in
// order), so a signal the demo does not catch kills it and leaves its
// children running on the demo's ports: closing the terminal of a make
// run left edged and demo-origin behind, and the next make run failed on
// a taken port.
func stopContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "demo:", err)
	os.Exit(1)
}

// plan lists the children in start order; they are stopped in reverse.
// The shield demo is the README's "Edge → shield → origin" commands: flags
// only, the two nodes sharing the shield's NATS (-nats-listen, -nats) so
// that a purge sent to either node reaches both.
func plan(bin, data string, shield bool) []child {
	edged := filepath.Join(bin, "edged")
	env := []string{"EDGED_PURGE_TOKEN=" + purgeToken()}
	origin := child{name: "demo-origin", path: filepath.Join(bin, "demo-origin"), url: "http://" + originAddr,
		args: []string{"-listen", originAddr}, ready: "http://" + originAddr + "/_stats",
		listens: []listen{{"-listen", originAddr}}}
	if !shield {
		return []child{origin, {name: "edged", path: edged, url: "http://" + edgeAddr, ready: "http://" + edgeAdminAddr + "/healthz",
			args: []string{"-origin", "http://" + originAddr, "-listen", edgeAddr, "-admin", edgeAdminAddr, "-data", data}, env: env,
			listens: []listen{{"-listen", edgeAddr}, {"-admin", edgeAdminAddr}}}}
	}
	env = append(env, "EDGED_NATS_TOKEN="+natsToken())
	return []child{
		origin,
		{name: "edged-shield", path: edged, url: "http://" + shieldAddr, ready: "http://" + shieldAdminAddr + "/healthz",
			args: []string{"-role", "shield", "-origin", "http://" + originAddr, "-listen", shieldAddr,
				"-admin", shieldAdminAddr, "-data", filepath.Join(data, "shield"), "-nats-listen", shieldNATSAddr}, env: env,
			listens: []listen{{"-listen", shieldAddr}, {"-admin", shieldAdminAddr}, {"-nats-listen", shieldNATSAddr}}},
		{name: "edged", path: edged, url: "http://" + edgeAddr, ready: "http://" + edgeAdminAddr + "/healthz",
			args: []string{"-shield", "http://" + shieldAddr, "-listen", edgeAddr,
				"-admin", edgeAdminAddr, "-data", filepath.Join(data, "edge"), "-nats", "nats://" + shieldNATSAddr}, env: env,
			listens: []listen{{"-listen", edgeAddr}, {"-admin", edgeAdminAddr}}},
	}
}

// forwardConfig is the demo proxy's file: what flags cannot say. The demo
// origin listens on loopback, which a forward proxy refuses to reach
// unless told to.
const forwardConfig = `# Written by the edged demo (make run-forward).
role: forward
forward:
  dial:
    allow_networks: [127.0.0.1/32]
`

// writeForwardConfig writes DATA/forward.yaml.
func writeForwardConfig(data string) error {
	if err := os.MkdirAll(data, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(data, "forward.yaml"), []byte(forwardConfig), 0o644)
}

// planForward is the forward demo: the demo origin, and edged as a forward
// proxy that admits loopback clients (the default) and may reach the origin.
func planForward(bin, data string) []child {
	origin := plan(bin, data, false)[0]
	return []child{origin, {name: "edged-forward", path: filepath.Join(bin, "edged"), url: "http://" + forwardAddr,
		ready: "http://" + forwardAdminAddr + "/healthz",
		args: []string{"-config", filepath.Join(data, "forward.yaml"), "-role", "forward", "-listen", forwardAddr,
			"-admin", forwardAdminAddr, "-data", filepath.Join(data, "forward")},
		env:     []string{"EDGED_PURGE_TOKEN=" + purgeToken()},
		listens: []listen{{"-listen", forwardAddr}, {"-admin", forwardAdminAddr}}}}
}
