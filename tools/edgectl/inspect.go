package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"edged/edge/policy"
)

// inspectCmd is a parsed `edgectl inspect URL`: what a node holds for it.
type inspectCmd struct {
	adminTarget // endpoint: the admin URL's /inspect?url=…
	asJSON      bool
}

func parseInspect(args []string, getenv func(string) string, stderr io.Writer) (inspectCmd, error) {
	fs := flagSet("edgectl inspect", "usage: edgectl inspect [flags] URL\n\nflags:", stderr)
	af := addAdminFlags(fs)
	var c inspectCmd
	fs.BoolVar(&c.asJSON, "json", false, "print the node's JSON answer as it is")
	if err := parseFlags(fs, args); err != nil {
		return inspectCmd{}, err
	}
	if fs.NArg() != 1 {
		return inspectCmd{}, errors.New("want one absolute URL")
	}
	target := fs.Arg(0)
	if u, err := url.Parse(target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return inspectCmd{}, fmt.Errorf("%q is not an absolute http(s) URL", target)
	}
	var err error
	if c.adminTarget, err = af.target(getenv, "/inspect"); err != nil {
		return inspectCmd{}, err
	}
	c.endpoint += "?url=" + url.QueryEscape(target)
	return c, nil
}

// inspectAnswer is the JSON of edged's GET /inspect (docs/edgectl.md).
type inspectAnswer struct {
	URL     string `json:"url"`
	Entries []struct {
		Key       string   `json:"key"`
		Kind      string   `json:"kind"`
		Tier      string   `json:"tier"`
		Status    int      `json:"status"`
		Stale     bool     `json:"stale"`
		PerUser   bool     `json:"per_user"`
		Age       float64  `json:"age_seconds"`
		TTL       *float64 `json:"ttl_seconds"` // none for a Vary index
		BodyBytes int      `json:"body_bytes"`
		Vary      []string `json:"vary"`
		Tags      []string `json:"tags"`
		Type      string   `json:"content_type"`
		Encoding  string   `json:"content_encoding"`
	} `json:"entries"`
	More  bool   `json:"more"`
	Error string `json:"error"`
}

func (c inspectCmd) run(ctx context.Context, client *http.Client, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.endpoint, nil)
	if err != nil {
		fmt.Fprintln(stderr, "edgectl inspect:", err)
		return exitUsage
	}
	resp, raw, err := c.call(ctx, client, req, 16<<20)
	if err != nil {
		fmt.Fprintln(stderr, "edgectl inspect:", err)
		return exitFail
	}
	var ans inspectAnswer
	if err := json.Unmarshal(raw, &ans); err != nil || resp.StatusCode != http.StatusOK {
		msg := ans.Error
		if msg == "" {
			msg = "unexpected answer " + strconv.Quote(truncate(string(raw), 200)) + adminHint(resp)
		}
		fmt.Fprintf(stderr, "edgectl inspect: %s: %s\n", resp.Status, msg)
		return exitFail
	}
	if c.asJSON {
		_, _ = stdout.Write(raw)
		return exitOK
	}
	if len(ans.Entries) == 0 {
		fmt.Fprintf(stdout, "%s: not cached on this node\n", ans.URL)
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tVARIANT\tTIER\tSTATUS\tAGE\tTTL\tSIZE\tTAGS")
	for _, e := range ans.Entries {
		ttl := "-" // a Vary index: each variant has its own freshness
		switch {
		case e.TTL == nil:
		case e.Stale:
			ttl = "stale"
		case *e.TTL < 0:
			ttl = "stale " + (time.Duration(-*e.TTL) * time.Second).String()
		default:
			ttl = (time.Duration(*e.TTL) * time.Second).String()
		}
		variant := variantLabel(ans.URL, e.Key)
		if e.Vary != nil {
			variant = "Vary: " + strings.Join(e.Vary, ", ")
		}
		kind := e.Kind
		if e.PerUser {
			kind += " (per-user)" // never served stale: see docs/edgectl.md
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%d\t%s\n", kind, variant, e.Tier, e.Status,
			time.Duration(e.Age*float64(time.Second)).Round(time.Second), ttl, e.BodyBytes, strings.Join(e.Tags, " "))
	}
	tw.Flush()
	if ans.More {
		fmt.Fprintln(stdout, "(more entries than the node lists; purge the URL to drop them all)")
	}
	return exitOK
}

// varyFields matches the length prefix of a Vary variant's field value
// (policy.Key.Variant: "Name:+5:value", "=" when normalized).
var varyFields = regexp.MustCompile(`:[+=][0-9]+:`)

// variantLabel shows what follows the URL in a stored key (policy.Key: the
// derivations, each after a NUL) readably: the scheme when it differs, and
// each derivation after " | ".
func variantLabel(target, key string) string {
	primary, derivations := policy.Key(key).Parse()
	label := ""
	if string(primary) != target {
		label = string(primary[:strings.Index(string(primary), "://")+3]) // the other scheme
	}
	if derivations == nil {
		if label == "" {
			return "-"
		}
		return label
	}
	parts := make([]string, len(derivations))
	for i, d := range derivations {
		parts[i] = varyFields.ReplaceAllString(strings.TrimSpace(strings.ReplaceAll(d.Suffix, "\n", " ")), "=")
		parts[i] = strings.ReplaceAll(parts[i], ":-", "=(absent)")
	}
	return strings.TrimSpace(label + " " + strings.Join(parts, " | "))
}
