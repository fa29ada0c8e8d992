package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"edged/purge"
)

// purgeCmd is a parsed `edgectl purge`.
type purgeCmd struct {
	adminTarget // endpoint: the admin URL's /purge
	req         purge.Request
}

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// parsePurge parses the flags of `edgectl purge`; an error is a usage error
// (exit 2), and the request is validated as the server would.
func parsePurge(args []string, getenv func(string) string, stderr io.Writer) (purgeCmd, error) {
	fs := flagSet("edgectl purge", "usage: edgectl purge [flags]\n\nPurges from every node on the purge bus, through one node's admin listener.\n\nflags:", stderr)
	af := addAdminFlags(fs)
	var c purgeCmd
	var urls, prefixes, tags, hosts stringList
	fs.Var(&urls, "url", "absolute `URL` to purge with all its variants (repeatable)")
	fs.Var(&prefixes, "prefix", "absolute URL `prefix` (host + path prefix) to purge (repeatable)")
	fs.Var(&tags, "tag", "surrogate key / cache `tag` to purge (repeatable)")
	fs.Var(&hosts, "host", "purge everything of this `host`[:port] (repeatable)")
	fs.BoolVar(&c.req.All, "all", false, "purge everything (alone: not with --url, --prefix, --tag or --host)")
	fs.BoolVar(&c.req.Soft, "soft", false, "mark stale (revalidate) instead of deleting")
	if err := parseFlags(fs, args); err != nil {
		return purgeCmd{}, err
	}
	if fs.NArg() > 0 {
		return purgeCmd{}, fmt.Errorf("unexpected argument %q (use --url, --prefix, --tag, --host or --all)", fs.Arg(0))
	}
	c.req.URLs, c.req.Prefixes, c.req.Tags, c.req.Hosts = urls, prefixes, tags, hosts
	if c.req.All && len(urls)+len(prefixes)+len(tags)+len(hosts) > 0 {
		// Said in flags, before the API's own refusal in JSON field names:
		// a pipeline that meant a prefix must not empty every cache.
		var given []string
		for _, f := range []struct {
			name string
			n    int
		}{{"--url", len(urls)}, {"--prefix", len(prefixes)}, {"--tag", len(tags)}, {"--host", len(hosts)}} {
			if f.n > 0 {
				given = append(given, f.name)
			}
		}
		return purgeCmd{}, fmt.Errorf("--all purges everything and cannot be combined with %s: drop --all to purge only those", strings.Join(given, ", "))
	}
	if err := c.req.Validate(); err != nil {
		return purgeCmd{}, err
	}
	var err error
	if c.adminTarget, err = af.target(getenv, "/purge"); err != nil {
		return purgeCmd{}, err
	}
	return c, nil
}

// endpoint joins an admin base URL and a path.
func endpoint(admin, path string) (string, error) {
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("admin URL %q: want http(s)://host:port", admin)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	return u.String(), nil
}

// purgeAnswer is the purge API's JSON answer (success or error).
type purgeAnswer struct {
	ID         string  `json:"id"`
	Seq        uint64  `json:"seq"`
	Count      int     `json:"count"`
	DurationMS float64 `json:"duration_ms"`
	Accepted   bool    `json:"accepted"`
	Error      string  `json:"error"`
	Warning    string  `json:"warning"`
}

func (c purgeCmd) run(ctx context.Context, client *http.Client, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	body, err := json.Marshal(c.req)
	if err != nil {
		fmt.Fprintln(stderr, "edgectl purge:", err)
		return exitFail
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		fmt.Fprintln(stderr, "edgectl purge:", err)
		return exitUsage
	}
	req.Header.Set("Content-Type", "application/json")
	resp, raw, err := c.call(ctx, client, req, 1<<20)
	if err != nil {
		fmt.Fprintln(stderr, "edgectl purge:", err)
		return exitFail
	}
	var ans purgeAnswer
	jsonErr := json.Unmarshal(raw, &ans)
	switch {
	case resp.StatusCode == http.StatusOK && jsonErr == nil:
		fmt.Fprintf(stdout, "purged: id=%s seq=%d count=%d duration=%.3fms\n", ans.ID, ans.Seq, ans.Count, ans.DurationMS)
		if ans.Warning != "" {
			// Applied here, but a peer with another key ignores it, or
			// the purge may miss copies for the routes (a shield's API).
			fmt.Fprintf(stderr, "edgectl purge: warning: %s\n", ans.Warning)
		}
		return exitOK
	case ans.Accepted:
		fmt.Fprintf(stderr, "edgectl purge: %s (id=%s seq=%d)\n", ans.Error, ans.ID, ans.Seq)
		return exitFail
	case ans.Error != "":
		fmt.Fprintf(stderr, "edgectl purge: %s: %s\n", resp.Status, ans.Error)
		return exitFail
	default:
		fmt.Fprintf(stderr, "edgectl purge: %s: %s: unexpected answer %q%s\n", c.endpoint, resp.Status, truncate(string(raw), 200), adminHint(resp))
		return exitFail
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
