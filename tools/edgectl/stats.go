package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// statsCmd is a parsed `edgectl stats`: it prints the edged_* samples of a
// node's /metrics and where the node stands in the purge stream; given
// several nodes, only the latter, one line each.
type statsCmd struct {
	endpoints []string
	timeout   time.Duration
}

// adminList is the repeatable --admin flag.
type adminList []string

func (a *adminList) String() string     { return strings.Join(*a, ",") }
func (a *adminList) Set(v string) error { *a = append(*a, v); return nil }

func parseStats(args []string, getenv func(string) string, stderr io.Writer) (statsCmd, error) {
	fs := flag.NewFlagSet("edgectl stats", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var admins adminList
	fs.Var(&admins, "admin", "admin `URL` of a node; repeat it for several nodes (default $EDGED_ADMIN or "+defaultAdmin+")")
	var c statsCmd
	fs.DurationVar(&c.timeout, "timeout", defaultTimeout, "give up after this `duration`")
	if err := parseFlags(fs, args); err != nil {
		return statsCmd{}, err
	}
	if fs.NArg() > 0 {
		return statsCmd{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if len(admins) == 0 {
		admins = adminList{adminURL("", getenv)}
	}
	for _, a := range admins {
		e, err := endpoint(a, "/metrics")
		if err != nil {
			return statsCmd{}, err
		}
		c.endpoints = append(c.endpoints, e)
	}
	return c, nil
}

func (c statsCmd) run(ctx context.Context, client *http.Client, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	code := exitOK
	for _, e := range c.endpoints {
		samples, err := c.fetch(ctx, client, e)
		if err != nil {
			fmt.Fprintf(stderr, "edgectl stats: %v\n", err)
			code = exitFail
			continue
		}
		if len(c.endpoints) == 1 {
			for _, s := range samples {
				fmt.Fprintln(stdout, s)
			}
			fmt.Fprintln(stdout, purgeLine(samples))
			continue
		}
		fmt.Fprintf(stdout, "%s %s\n", strings.TrimSuffix(e, "/metrics"), purgeLine(samples))
	}
	return code
}

// fetch returns the edged_* sample lines of endpoint.
func (c statsCmd) fetch(ctx context.Context, client *http.Client, endpoint string) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s%s", endpoint, resp.Status, adminHint(resp))
	}
	var out []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "edged_") {
			out = append(out, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", endpoint, err)
	}
	return out, nil
}

// purgeLine says where a node stands in the purge stream: the sequence it
// applied, the stream's last as it saw it, the events between, and
// whether it has fallen behind (docs/purge.md, "Bus health").
func purgeLine(samples []string) string {
	v := map[string]uint64{}
	for _, s := range samples {
		name, value, ok := strings.Cut(s, " ")
		if f, err := strconv.ParseFloat(value, 64); ok && err == nil && f >= 0 {
			v[name] = uint64(f)
		}
	}
	applied, ok := v["edged_purge_applied_sequence"]
	if !ok {
		return "purge: no purge bus metrics"
	}
	last := max(v["edged_purge_stream_sequence"], applied)
	line := fmt.Sprintf("purge: applied %d of stream %d, lag %d events", applied, last, last-applied)
	if v["edged_purge_behind"] == 1 {
		line += ", BEHIND"
	}
	if _, ok := v["edged_purge_bus_connected"]; ok && v["edged_purge_bus_connected"] == 0 {
		line += ", disconnected"
	}
	return line
}
