// Command edgectl is the operator CLI of edged: what a deploy pipeline calls
// to purge content from every node, and a quick look at a node's metrics.
//
//	edgectl purge --url http://www.example.com/a --tag product-42 [--soft]
//	edgectl purge --prefix http://www.example.com/img/ --host www.example.com
//	edgectl purge --all          # everything; --all stands alone
//	edgectl stats                # a node's edged_* metrics and its place in the purge stream
//	edgectl stats --admin URL1 --admin URL2   # one line per node: applied sequence and lag
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
	"time"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

const usage = `usage: edgectl <command> [flags]

commands:
  purge   purge content from every edged node (edgectl purge -h for flags)
  stats   print a node's edged_* metrics and its applied purge sequence
          (--admin repeated: one line per node, applied sequence and lag)

environment:
  EDGED_ADMIN         admin URL of a node (default http://127.0.0.1:8081)
  EDGED_PURGE_TOKEN   bearer token of the purge API
`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
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
	return " (is this a node's admin listener? --admin / EDGED_ADMIN must name its -admin address, default " + defaultAdmin + ", not the public one)"
}

// defaultAdmin is the admin listener of `make run`.
const defaultAdmin = "http://127.0.0.1:8081"

func adminURL(flagValue string, getenv func(string) string) string {
	if flagValue != "" {
		return flagValue
	}
	if v := getenv("EDGED_ADMIN"); v != "" {
		return v
	}
	return defaultAdmin
}

// defaultTimeout bounds one command's HTTP exchange.
const defaultTimeout = 30 * time.Second
