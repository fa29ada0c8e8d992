package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// warmCmd is a parsed `edgectl warm FILE`: it fetches every URL of the
// file through every edge, so the first real client finds a hit.
type warmCmd struct {
	file    string
	edges   []*url.URL // none: fetch each URL from its own host
	workers int
	timeout time.Duration
}

func parseWarm(args []string, stderr io.Writer) (warmCmd, error) {
	fs := flagSet("edgectl warm", "usage: edgectl warm [flags] FILE\n\nFILE lists absolute URLs, one a line (blank lines and # comments are skipped); - reads stdin.\n\nflags:", stderr)
	var edges stringList
	var c warmCmd
	fs.Var(&edges, "edge", "public `URL` of an edge (http://edge1:8080) to fetch through, keeping each URL's host in Host; repeatable (default: each URL as written)")
	fs.IntVar(&c.workers, "c", 8, "fetches at once (over all edges)")
	fs.DurationVar(&c.timeout, "timeout", defaultTimeout, "give up on one fetch after this `duration`")
	if err := parseFlags(fs, args); err != nil {
		return warmCmd{}, err
	}
	if fs.NArg() != 1 {
		return warmCmd{}, errors.New("want one FILE of URLs")
	}
	if c.workers < 1 {
		return warmCmd{}, fmt.Errorf("-c %d: want at least 1", c.workers)
	}
	c.file = fs.Arg(0)
	for _, e := range edges {
		u, err := url.Parse(nodeURL(e))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return warmCmd{}, fmt.Errorf("-edge %q: want http(s)://host:port", e)
		}
		c.edges = append(c.edges, u)
	}
	return c, nil
}

// readURLs reads the list; a line that is not an absolute http(s) URL is
// an error naming its line, before anything is fetched.
func readURLs(r io.Reader, name string) ([]*url.URL, error) {
	var out []*url.URL
	var errs []error
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		u, err := url.Parse(line)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s:%d: %q is not an absolute http(s) URL", name, n, line))
			continue
		}
		out = append(out, u)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	return out, errors.Join(errs...)
}

// warmJob is one fetch: a URL through one edge (or directly).
type warmJob struct {
	target *url.URL // what the client asks for
	edge   *url.URL // nil: fetch target itself
}

// warmResult counts what the edges answered.
type warmResult struct {
	hits, misses, errors int
}

func (c warmCmd) run(ctx context.Context, client *http.Client, stdin io.Reader, stdout, stderr io.Writer) int {
	var r io.Reader = stdin
	if c.file != "-" {
		f, err := os.Open(c.file)
		if err != nil {
			fmt.Fprintln(stderr, "edgectl warm:", err)
			return exitUsage
		}
		defer f.Close()
		r = f
	}
	urls, err := readURLs(r, c.file)
	if err != nil {
		fmt.Fprintln(stderr, "edgectl warm:", strings.ReplaceAll(err.Error(), "\n", "\nedgectl warm: "))
		return exitUsage
	}
	var jobs []warmJob
	for _, u := range urls {
		if len(c.edges) == 0 {
			jobs = append(jobs, warmJob{target: u})
		}
		for _, e := range c.edges {
			jobs = append(jobs, warmJob{target: u, edge: e})
		}
	}
	start := time.Now()
	p := &progress{w: stdout, tty: isTerminal(stdout), total: len(jobs)}
	work := make(chan warmJob)
	var wg sync.WaitGroup
	for range min(c.workers, max(len(jobs), 1)) {
		wg.Go(func() {
			for j := range work {
				outcome, err := c.fetch(ctx, client, j)
				p.done(outcome, j, err, stderr)
			}
		})
	}
feed:
	for _, j := range jobs {
		select {
		case work <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	p.finish()
	res := p.res
	fmt.Fprintf(stdout, "warmed %d URLs through %d edge(s) in %s: %d hits, %d misses, %d errors\n",
		len(urls), max(len(c.edges), 1), time.Since(start).Round(time.Millisecond), res.hits, res.misses, res.errors)
	if res.errors > 0 || ctx.Err() != nil {
		return exitFail
	}
	return exitOK
}

// Outcomes of one fetch.
const (
	outcomeHit = iota
	outcomeMiss
	outcomeError
)

func (c warmCmd) fetch(ctx context.Context, client *http.Client, j warmJob) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := *j.target
	if j.edge != nil {
		u.Scheme, u.Host = j.edge.Scheme, j.edge.Host
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return outcomeError, err
	}
	req.Host = j.target.Host // the site the edge serves, whatever address it was reached at
	resp, err := client.Do(req)
	if err != nil {
		return outcomeError, err
	}
	defer resp.Body.Close()
	// The whole body: an edge stores what it fetched once it has all of it.
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return outcomeError, err
	}
	if resp.StatusCode >= 400 {
		return outcomeError, errors.New(resp.Status)
	}
	if cacheStatusHit(resp.Header.Values("Cache-Status")) {
		return outcomeHit, nil
	}
	return outcomeMiss, nil
}

// cacheStatusHit reads the last member of Cache-Status (RFC 9211 §2: each
// cache appends its own, so the last is the edge that answered) and reports
// whether it has the hit parameter (§2.1). Anything else, a missing header
// included, is a miss: the edge went upstream, or is not a cache.
func cacheStatusHit(values []string) bool {
	members := strings.Split(strings.Join(values, ","), ",")
	last := members[len(members)-1]
	params := strings.Split(last, ";")
	for _, p := range params[1:] {
		if strings.TrimSpace(p) == "hit" {
			return true
		}
	}
	return false
}

// progress shows the fetches done: on a terminal one line rewritten in
// place with a bar, elsewhere a plain line each tenth of the way.
type progress struct {
	w     io.Writer
	tty   bool
	total int

	mu   sync.Mutex // guards n, res and the writes
	n    int
	res  warmResult
	last int // n at the last plain line
}

func (p *progress) done(outcome int, j warmJob, err error, stderr io.Writer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	switch outcome {
	case outcomeHit:
		p.res.hits++
	case outcomeMiss:
		p.res.misses++
	default:
		p.res.errors++
		if p.tty {
			fmt.Fprint(p.w, "\r\x1b[K") // the error line must not land inside the bar
		}
		via := ""
		if j.edge != nil {
			via = " via " + j.edge.Host
		}
		fmt.Fprintf(stderr, "edgectl warm: %s%s: %v\n", j.target, via, err)
	}
	switch {
	case p.tty:
		const width = 30
		fill := width * p.n / max(p.total, 1)
		fmt.Fprintf(p.w, "\r[%s%s] %d/%d  hits %d  misses %d  errors %d", strings.Repeat("#", fill), strings.Repeat(".", width-fill),
			p.n, p.total, p.res.hits, p.res.misses, p.res.errors)
	case p.n == p.total || p.n-p.last >= max(p.total/10, 1):
		p.last = p.n
		fmt.Fprintf(p.w, "%d/%d fetched (hits %d, misses %d, errors %d)\n", p.n, p.total, p.res.hits, p.res.misses, p.res.errors)
	}
}

func (p *progress) finish() {
	if p.tty && p.n > 0 {
		fmt.Fprintln(p.w)
	}
}
