package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// reloadCmd is a parsed `edgectl reload`: POST /reload on a node's admin
// listener, which reads its configuration again as SIGHUP does
// (docs/production.md, "Reloading").
type reloadCmd struct {
	admin    string // the admin URL, whose listener must prove it holds token
	endpoint string // the admin URL's /reload
	token    string
	timeout  time.Duration
}

func parseReload(args []string, getenv func(string) string, stderr io.Writer) (reloadCmd, error) {
	fs := flag.NewFlagSet("edgectl reload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: edgectl reload [flags]\n\nReads the node's configuration again, as SIGHUP does.\n\nflags:")
		fs.PrintDefaults()
	}
	admin := fs.String("admin", "", "admin `URL` of a node (default $EDGED_ADMIN or "+defaultAdmin+")")
	token := fs.String("token", "", "purge API bearer `token` (default $EDGED_PURGE_TOKEN)")
	var c reloadCmd
	fs.DurationVar(&c.timeout, "timeout", defaultTimeout, "give up after this `duration`")
	if err := parseFlags(fs, args); err != nil {
		return reloadCmd{}, err
	}
	if fs.NArg() != 0 {
		return reloadCmd{}, fmt.Errorf("takes no arguments, got %q", fs.Arg(0))
	}
	if c.token = *token; c.token == "" {
		c.token = getenv("EDGED_PURGE_TOKEN")
	}
	if c.token == "" {
		return reloadCmd{}, errors.New("no token: set EDGED_PURGE_TOKEN (or --token); /reload takes the purge token")
	}
	c.admin = adminURL(*admin, getenv)
	ep, err := endpoint(c.admin, "/reload")
	if err != nil {
		return reloadCmd{}, err
	}
	c.endpoint = ep
	return c, nil
}

// reloadAnswer is the JSON of edged's POST /reload.
type reloadAnswer struct {
	OK     bool     `json:"ok"`
	Result string   `json:"result"`
	Errors []string `json:"errors"`
	Error  string   `json:"error"` // a refusal of the request itself (token)
}

// run prints "reload: applied" or each problem the node found (one per
// line, file:line: field: problem) and exits 1 when it kept its
// configuration.
func (c reloadCmd) run(ctx context.Context, client *http.Client, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := proveAdmin(ctx, client, c.admin, c.token); err != nil {
		fmt.Fprintln(stderr, "edgectl reload:", err)
		return exitFail
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, nil)
	if err != nil {
		fmt.Fprintln(stderr, "edgectl reload:", err)
		return exitUsage
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := noRedirects(client).Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "edgectl reload: %v\n", err)
		return exitFail
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		fmt.Fprintf(stderr, "edgectl reload: reading the answer: %v\n", err)
		return exitFail
	}
	var ans reloadAnswer
	if err := json.Unmarshal(raw, &ans); err != nil || ans.Result == "" && ans.Error == "" {
		fmt.Fprintf(stderr, "edgectl reload: %s: unexpected answer %s%s\n", resp.Status, strconv.Quote(truncate(string(raw), 200)), adminHint(resp))
		return exitFail
	}
	if ans.OK {
		fmt.Fprintf(stdout, "%s: configuration reloaded\n", c.admin)
		return exitOK
	}
	if ans.Error != "" {
		fmt.Fprintf(stderr, "edgectl reload: %s: %s\n", resp.Status, ans.Error)
		return exitFail
	}
	fmt.Fprintf(stderr, "edgectl reload: %s refused the configuration (%s); the one in use stays:\n", c.admin, ans.Result)
	for _, e := range ans.Errors {
		fmt.Fprintln(stderr, "  "+e)
	}
	return exitFail
}
