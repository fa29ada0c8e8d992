// Command edged runs one edged node: a caching HTTP reverse proxy that sits
// in front of an origin (or of origin shields) and serves from a two-tier
// cache.
//
//	edged -config edged.yaml
//	edged -origin http://127.0.0.1:9000 -listen 127.0.0.1:8080 -admin 127.0.0.1:8081 -data ./data
//
// Flags override the file's fields (docs/config.md lists them); with no
// -config the built-in defaults apply. The public listener serves the cache;
// the admin listener serves /metrics (Prometheus) and /healthz.
//
// Logs: the access log is JSON lines on stdout, operational logs are JSON
// lines on stderr. Startup errors are plain lines on stderr.
//
// With tls.listen, an HTTPS listener serves the same handler over TLS 1.2+
// with HTTP/2.
//
// SIGHUP, or POST /reload on the admin listener (purge token), reloads the
// configuration: the file and the flags are read again with the checks of
// a start; sites, routes, pools, upstream clients, certificates and
// log.level are applied while serving (requests under way finish on the
// old ones; the cache, the purge bus and open connections are kept). A
// configuration with problems, or one that changes a field only a restart
// applies (listen, admin, data, role, cache, server, purge, ...), is
// refused, every problem named with its field and line, and the
// configuration in use stays (reload.go, docs/production.md).
//
// edged -version prints the build (version, Go version, VCS revision);
// edged -t -config FILE checks a configuration as a start would (the file,
// the flags over it, and the files it names), prints every problem, one per
// line with its field and line, and exits 2, or prints "configuration OK"
// (after the warnings a start would log, on stderr) and exits 0. It opens no port and no store.
//
// Exit status: 0 after a clean stop on SIGTERM or SIGINT (connections
// drained, background work finished, the store flushed and closed); 2 for a
// usage or configuration error (including certificate, key and auth files
// or secrets that cannot be loaded at start); 1 for any other failure (data directory,
// listen address in use, store, shutdown).
//
// This package is wiring only: the behaviour lives in edge, origin, storage
// and edge/config.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	_ "time/tzdata" // access windows name IANA time zones; hosts may lack the database

	"edged/edge/config"
	"edged/internal/buildinfo"
)

// Exit codes.
const (
	exitOK     = 0
	exitFail   = 1
	exitConfig = 2
)

func main() {
	enableExtendedConnect()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// enableExtendedConnect re-executes the binary, once, with
// http2xconnect=1 added to GODEBUG. Go's HTTP/2 server accepts RFC 8441's
// extended CONNECT (WebSocket over HTTP/2, and its
// SETTINGS_ENABLE_CONNECT_PROTOCOL) only when that is in the environment
// at start: net/http reads it in an init function, which no //go:debug
// directive reaches. The exec keeps the PID, the arguments and the rest
// of the environment; an operator's own http2xconnect setting (=0 turns
// it off) is left alone, and if the exec fails edged runs without it.
func enableExtendedConnect() {
	godebug := os.Getenv("GODEBUG")
	if strings.Contains(godebug, "http2xconnect=") {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GODEBUG=") })
	env = append(env, "GODEBUG="+strings.TrimPrefix(godebug+",http2xconnect=1", ","))
	_ = syscall.Exec(exe, os.Args, env) // returns only on failure
}

// run is main without the process: it returns the exit code and stops
// cleanly when ctx is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, v, err := parseCommand(args)
	if errors.Is(err, flag.ErrHelp) {
		printUsage(stdout)
		return exitOK
	}
	if v.version && err == nil {
		fmt.Fprintln(stdout, buildinfo.Read().Line("edged"))
		return exitOK
	}
	if err != nil {
		printError(stderr, err)
		return exitConfig
	}
	if v.check {
		// Like nginx -t: the checks of a start, without taking a port
		// or opening the store; what a start warns of too.
		for _, w := range checkWarnings(cfg) {
			fmt.Fprintln(stderr, "edged: warning: "+w)
		}
		fmt.Fprintln(stdout, "edged: configuration OK")
		return exitOK
	}
	n, err := start(cfg, stdout, stderr)
	if err != nil {
		printError(stderr, err)
		// Problems found at start in what the file names (certificate and
		// key files, auth secrets) are configuration errors too.
		var fe *config.FieldError
		if errors.As(err, &fe) {
			return exitConfig
		}
		return exitFail
	}
	n.args = args // a reload reads the same file, with the same flags over it
	if err := n.serve(ctx); err != nil {
		n.log.Error("stopped with an error", "err", err)
		return exitFail
	}
	return exitOK
}

// printError writes err as "edged: line" lines; joined errors (all the
// problems of a config file) each get their own line.
func printError(w io.Writer, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintln(w, "edged: "+line)
	}
}
