package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// reloadCmd is a parsed `edgectl reload`: POST /reload on a node's admin
// listener, which reads its configuration again as SIGHUP does
// (docs/production.md, "Reloading").
type reloadCmd struct{ adminTarget }

func parseReload(args []string, getenv func(string) string, stderr io.Writer) (reloadCmd, error) {
	fs := flagSet("edgectl reload", "usage: edgectl reload [flags]\n\nReads the node's configuration again, as SIGHUP does.\n\nflags:", stderr)
	af := addAdminFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return reloadCmd{}, err
	}
	if fs.NArg() != 0 {
		return reloadCmd{}, fmt.Errorf("%w, got %q", errNoArgs, fs.Arg(0))
	}
	t, err := af.target(getenv, "/reload")
	return reloadCmd{t}, err
}

// reloadAnswer is the JSON of edged's POST /reload.
type reloadAnswer struct {
	OK     bool     `json:"ok"`
	Result string   `json:"result"`
	Errors []string `json:"errors"`
	Error  string   `json:"error"` // a refusal of the request itself (token)
}

// run prints "configuration reloaded" or each problem the node found (one
// per line, file:line: field: problem) and exits 1 when it kept its
// configuration.
func (c reloadCmd) run(ctx context.Context, client *http.Client, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, nil)
	if err != nil {
		fmt.Fprintln(stderr, "edgectl reload:", err)
		return exitUsage
	}
	resp, raw, err := c.call(ctx, client, req, 1<<20)
	if err != nil {
		fmt.Fprintln(stderr, "edgectl reload:", err)
		return exitFail
	}
	var ans reloadAnswer
	switch err := json.Unmarshal(raw, &ans); {
	case err != nil || ans.Result == "" && ans.Error == "":
		fmt.Fprintf(stderr, "edgectl reload: %s: unexpected answer %s%s\n", resp.Status, strconv.Quote(truncate(string(raw), 200)), adminHint(resp))
		return exitFail
	case ans.OK:
		fmt.Fprintf(stdout, "%s: configuration reloaded\n", c.admin)
		return exitOK
	case ans.Error != "":
		fmt.Fprintf(stderr, "edgectl reload: %s: %s\n", resp.Status, ans.Error)
		return exitFail
	}
	why := ans.Result
	if why == "restart_needed" {
		// Not a mistake in the file: these fields apply only at a start.
		why += ": the fields below change only when edged restarts"
	}
	fmt.Fprintf(stderr, "edgectl reload: %s refused the configuration (%s); the one in use stays:\n", c.admin, why)
	for _, e := range ans.Errors {
		fmt.Fprintln(stderr, "  "+e)
	}
	return exitFail
}
