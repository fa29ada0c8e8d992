package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// statsCmd is a parsed `edgectl stats`: it prints the edged_* samples of a
// node's /metrics.
type statsCmd struct {
	endpoint string
	timeout  time.Duration
}

func parseStats(args []string, getenv func(string) string, stderr io.Writer) (statsCmd, error) {
	fs := flag.NewFlagSet("edgectl stats", flag.ContinueOnError)
	fs.SetOutput(stderr)
	admin := fs.String("admin", "", "admin `URL` of a node (default $EDGED_ADMIN or "+defaultAdmin+")")
	var c statsCmd
	fs.DurationVar(&c.timeout, "timeout", defaultTimeout, "give up after this `duration`")
	if err := parseFlags(fs, args); err != nil {
		return statsCmd{}, err
	}
	if fs.NArg() > 0 {
		return statsCmd{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	c.endpoint, err = endpoint(adminURL(*admin, getenv), "/metrics")
	return c, err
}

func (c statsCmd) run(ctx context.Context, client *http.Client, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.endpoint, nil)
	if err != nil {
		fmt.Fprintln(stderr, "edgectl stats:", err)
		return exitUsage
	}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "edgectl stats: %s: %v\n", c.endpoint, err)
		return exitFail
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "edgectl stats: %s: %s%s\n", c.endpoint, resp.Status, adminHint(resp))
		return exitFail
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "edged_") {
			fmt.Fprintln(stdout, line)
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(stderr, "edgectl stats: reading %s: %v\n", c.endpoint, err)
		return exitFail
	}
	return exitOK
}
