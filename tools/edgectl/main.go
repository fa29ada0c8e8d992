// Command edgectl is the operator CLI of edged: what a deploy pipeline calls
// to purge content from every node, a live look at a fleet, cache warming,
// a look at what a node holds for a URL, and a config check.
//
//	edgectl purge --url http://www.example.com/a --tag product-42 [--soft]
//	edgectl purge --prefix http://www.example.com/img/ --host www.example.com
//	edgectl purge --all          # everything; --all stands alone
//	edgectl stats [-w] [NODE...]
//	edgectl warm -edge http://edge1:8080 [-c 8] urls.txt
//	edgectl inspect http://www.example.com/a
//	edgectl reload
//	edgectl config check edged.yaml
//	edgectl --version
//
// docs/edgectl.md describes every command.
//
// The admin URL comes from --admin or EDGED_ADMIN (default
// http://127.0.0.1:8081); the purge token from --token or EDGED_PURGE_TOKEN
// (prefer the environment: flags are visible to other users in ps). The
// JSON it sends is documented in docs/purge.md.
//
// Exit status: 0 done, 1 the node refused or failed (the message says why),
// 2 usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"edged/internal/buildinfo"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

const usage = `usage: edgectl <command> [flags]

commands:
  purge          purge content from every edged node (edgectl purge -h for flags)
  stats          one row per node: requests/s, hit ratio, errors, P95, purge state (-w refreshes)
  warm           fetch a list of URLs through one or more edges to fill their caches
  inspect        what a node holds for a URL: variants, age, TTL, tags, tier
  reload         read a node's configuration again, as SIGHUP does; prints what it refused
  config check   check configuration files as edged -t does
  version        print the version (also --version)

environment:
  EDGED_ADMIN         admin URL of a node (default http://127.0.0.1:8081)
  EDGED_PURGE_TOKEN   bearer token of the purge API
`

func main() {
	// Interrupted, stats -w and warm stop at once and say what they did.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one edgectl command and returns its exit status.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	client := &http.Client{}
	switch args[0] {
	case "purge":
		cmd, err := parsePurge(args[1:], getenv, stderr)
		if err != nil {
			return usageError(stderr, "purge", err)
		}
		return cmd.run(ctx, client, stdout, stderr)
	case "stats":
		cmd, err := parseStats(args[1:], getenv, stderr)
		if err != nil {
			return usageError(stderr, "stats", err)
		}
		return cmd.run(ctx, client, stdout, stderr)
	case "warm":
		cmd, err := parseWarm(args[1:], stderr)
		if err != nil {
			return usageError(stderr, "warm", err)
		}
		return cmd.run(ctx, client, os.Stdin, stdout, stderr)
	case "inspect":
		cmd, err := parseInspect(args[1:], getenv, stderr)
		if err != nil {
			return usageError(stderr, "inspect", err)
		}
		return cmd.run(ctx, client, stdout, stderr)
	case "reload":
		cmd, err := parseReload(args[1:], getenv, stderr)
		if err != nil {
			return usageError(stderr, "reload", err)
		}
		return cmd.run(ctx, client, stdout, stderr)
	case "config":
		return configCheck(args[1:], stdout, stderr)
	case "-version", "--version", "version":
		fmt.Fprintln(stdout, buildinfo.Read().Line("edgectl"))
		return exitOK
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "edgectl: unknown command %q\n%s", args[0], usage)
		return exitUsage
	}
}

// usageError reports a usage error; -h is not an error. An error of the
// flag package was already printed by it, with the usage: printing it again
// only repeats it.
func usageError(stderr io.Writer, cmd string, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if !errors.As(err, new(flagError)) {
		fmt.Fprintf(stderr, "edgectl %s: %v\n", cmd, err)
	}
	return exitUsage
}

// flagError is an error of flag.FlagSet.Parse, which has printed it.
type flagError struct{ error }

func (e flagError) Unwrap() error { return e.error }

// parseFlags parses args with fs, marking its errors as printed.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return flagError{err}
	}
	return nil
}

// adminHint explains a 404 or an answer from a public listener (one with
// Cache-Status): edgectl talks to a node's admin listener, and the public
// one passes /purge and /metrics to the origin.
func adminHint(resp *http.Response) string {
	if resp.Header.Get("Cache-Status") == "" && resp.StatusCode != http.StatusNotFound {
		return ""
	}
	return adminHintText
}

const adminHintText = " (is this a node's admin listener? --admin / EDGED_ADMIN must name its -admin address, default " + defaultAdmin + ", not the public one)"

// defaultAdmin is the admin listener of `make run`.
const defaultAdmin = "http://127.0.0.1:8081"

func adminURL(flagValue string, getenv func(string) string) string {
	if flagValue != "" {
		return nodeURL(flagValue)
	}
	if v := getenv("EDGED_ADMIN"); v != "" {
		return nodeURL(v)
	}
	return defaultAdmin
}

// defaultTimeout bounds one command's HTTP exchange.
const defaultTimeout = 30 * time.Second
