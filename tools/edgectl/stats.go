package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// statsCmd is a parsed `edgectl stats`: one row per node, computed from
// two scrapes of its /metrics an interval apart.
type statsCmd struct {
	nodes    []string // /metrics URLs
	interval time.Duration
	watch    bool
	count    int // tables to print with -w; 0 until interrupted
	timeout  time.Duration
}

func parseStats(args []string, getenv func(string) string, stderr io.Writer) (statsCmd, error) {
	fs := flagSet("edgectl stats", "usage: edgectl stats [flags] [NODE...]\n\nNODE is a node's admin URL or host:port (default $EDGED_ADMIN or "+defaultAdmin+").\n\nflags:", stderr)
	admin := fs.String("admin", "", "admin `URL` of a node, when no NODE is given (default $EDGED_ADMIN or "+defaultAdmin+")")
	var c statsCmd
	fs.DurationVar(&c.interval, "i", time.Second, "`interval` between the two scrapes a rate is computed from (and between tables with -w)")
	fs.BoolVar(&c.watch, "w", false, "keep refreshing the table every interval")
	fs.IntVar(&c.count, "n", 0, "with -w, stop after this many tables (0: until interrupted)")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "give up on one scrape after this `duration`")
	if err := parseFlags(fs, args); err != nil {
		return statsCmd{}, err
	}
	if c.interval <= 0 {
		return statsCmd{}, fmt.Errorf("-i %v: want a positive interval", c.interval)
	}
	nodes := fs.Args()
	if len(nodes) == 0 {
		nodes = []string{adminURL(*admin, getenv)}
	}
	for _, n := range nodes {
		u, err := endpoint(nodeURL(n), "/metrics")
		if err != nil {
			return statsCmd{}, err
		}
		c.nodes = append(c.nodes, u)
	}
	return c, nil
}

// nodeURL accepts a bare host:port for a node: typing http:// for every
// node of a fleet is noise.
func nodeURL(s string) string {
	if strings.Contains(s, "://") {
		return s
	}
	return "http://" + s
}

func (c statsCmd) run(ctx context.Context, client *http.Client, stdout, stderr io.Writer) int {
	tty := isTerminal(stdout)
	prev := c.scrapeAll(ctx, client)
	code := exitOK
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return code
		case <-time.After(c.interval):
		}
		cur := c.scrapeAll(ctx, client)
		rows := make([]statsRow, len(c.nodes))
		code = exitOK
		for i := range c.nodes {
			rows[i] = newStatsRow(c.nodes[i], prev[i], cur[i])
			if rows[i].err != nil {
				code = exitFail
			}
		}
		if c.watch && tty {
			// Redraw in place: cursor home, clear the screen.
			fmt.Fprint(stdout, "\x1b[H\x1b[2J")
		}
		if c.watch {
			fmt.Fprintln(stdout, time.Now().Format(time.TimeOnly))
		}
		printStats(stdout, rows)
		for _, r := range rows {
			if r.err != nil && (n == 0 || !c.watch) {
				fmt.Fprintf(stderr, "edgectl stats: %v\n", r.err)
			}
		}
		if !c.watch || (c.count > 0 && n+1 >= c.count) {
			return code
		}
		prev = cur
	}
}

// scrape is one node's /metrics at one instant.
type scrape struct {
	at       time.Time
	families map[string]*dto.MetricFamily
	err      error
}

// scrapeAll scrapes every node at once, so the rows of a table describe
// the same moment.
func (c statsCmd) scrapeAll(ctx context.Context, client *http.Client) []scrape {
	out := make([]scrape, len(c.nodes))
	var wg sync.WaitGroup
	for i, u := range c.nodes {
		wg.Go(func() { out[i] = c.scrape(ctx, client, u) })
	}
	wg.Wait()
	return out
}

func (c statsCmd) scrape(ctx context.Context, client *http.Client, u string) scrape {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	s := scrape{at: time.Now()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		s.err = err
		return s
	}
	// The text format: what every Prometheus client library speaks.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := client.Do(req)
	if err != nil {
		s.err = err
		return s
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.err = fmt.Errorf("%s: %s%s", u, resp.Status, adminHint(resp))
		return s
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	if s.families, err = p.TextToMetricFamilies(io.LimitReader(resp.Body, 64<<20)); err != nil {
		s.err = fmt.Errorf("%s: %w", u, err)
	}
	return s
}

// statsRow is one node's line of the table.
type statsRow struct {
	node        string
	reqRate     float64 // client requests per second over the interval
	hitRatio    float64 // NaN without requests
	errRate     float64 // requests per second answered with an error
	p95         float64 // seconds; NaN without a histogram or observations
	purgeSeq    float64 // NaN when the node exports no purge bus
	purgeBehind float64 // purge events in the stream not applied yet
	purgeLag    float64 // mean seconds from publication to apply, since start; NaN without applies
	err         error
}

// Outcomes of edged_requests_total{cache} that a cache answered from what
// it held: the hit ratio's numerator.
var hitOutcomes = []string{"hit", "stale"}

func newStatsRow(node string, a, b scrape) statsRow {
	r := statsRow{node: strings.TrimSuffix(node, "/metrics"), hitRatio: math.NaN(), p95: math.NaN(), purgeSeq: math.NaN(), purgeBehind: math.NaN(), purgeLag: math.NaN()}
	// Both scrapes of a node that is down or not an admin listener fail
	// alike: say it once.
	if r.err = errors.Join(a.err, b.err); a.err != nil && b.err != nil && a.err.Error() == b.err.Error() {
		r.err = b.err
	}
	if r.err != nil {
		return r
	}
	secs := b.at.Sub(a.at).Seconds()
	all := func(*dto.Metric) bool { return true }
	isHit := func(m *dto.Metric) bool {
		v := label(m, "cache")
		for _, h := range hitOutcomes {
			if v == h {
				return true
			}
		}
		return false
	}
	// An error is the "error" outcome, or a 5xx status class once the
	// counter carries one (its labels grow; sums stay right).
	isErr := func(m *dto.Metric) bool {
		return label(m, "cache") == "error" || strings.HasPrefix(label(m, "status"), "5")
	}
	reqs := delta(a, b, "edged_requests_total", all)
	r.reqRate = reqs / secs
	if reqs > 0 {
		r.hitRatio = delta(a, b, "edged_requests_total", isHit) / reqs
	}
	r.errRate = delta(a, b, "edged_requests_total", isErr) / secs
	r.p95 = quantile(0.95, histogramDelta(a.families["edged_request_seconds"], b.families["edged_request_seconds"]))
	if f := b.families["edged_purge_applied_sequence"]; f != nil {
		r.purgeSeq = sum(f, all)
	}
	if f := b.families["edged_purge_pending_events"]; f != nil {
		r.purgeBehind = sum(f, all)
	}
	if f := b.families["edged_purge_lag_seconds"]; f != nil {
		var n uint64
		var s float64
		for _, m := range f.GetMetric() {
			n += m.GetHistogram().GetSampleCount()
			s += m.GetHistogram().GetSampleSum()
		}
		if n > 0 {
			r.purgeLag = s / float64(n)
		}
	}
	return r
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// sum adds the value of every series of f that keep selects.
func sum(f *dto.MetricFamily, keep func(*dto.Metric) bool) float64 {
	var s float64
	for _, m := range f.GetMetric() {
		if !keep(m) {
			continue
		}
		switch {
		case m.Counter != nil:
			s += m.GetCounter().GetValue()
		case m.Gauge != nil:
			s += m.GetGauge().GetValue()
		case m.Untyped != nil:
			s += m.GetUntyped().GetValue()
		}
	}
	return s
}

// delta is the growth of a counter between two scrapes; a counter that went
// down was reset by a restart, and its new value is the growth since.
func delta(a, b scrape, name string, keep func(*dto.Metric) bool) float64 {
	after := sum(b.families[name], keep)
	before := sum(a.families[name], keep)
	if after < before {
		return after
	}
	return after - before
}

// bucket is a cumulative histogram bucket: count observations <= le.
type bucket struct {
	le    float64
	count float64
}

// histogramDelta merges every series of a histogram family (same buckets,
// different labels) and subtracts the first scrape's counts, giving the
// observations of the interval.
func histogramDelta(a, b *dto.MetricFamily) []bucket {
	merge := func(f *dto.MetricFamily) map[float64]float64 {
		out := map[float64]float64{}
		for _, m := range f.GetMetric() {
			h := m.GetHistogram()
			for _, bk := range h.GetBucket() {
				if le := bk.GetUpperBound(); !math.IsInf(le, 1) { // the text format lists +Inf: the count
					out[le] += float64(bk.GetCumulativeCount())
				}
			}
			out[math.Inf(1)] += float64(h.GetSampleCount())
		}
		return out
	}
	if b == nil {
		return nil
	}
	before, after := merge(a), merge(b)
	if after[math.Inf(1)] < before[math.Inf(1)] {
		before = map[float64]float64{} // a restart between the scrapes
	}
	out := make([]bucket, 0, len(after))
	for le, n := range after {
		out = append(out, bucket{le, n - before[le]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].le < out[j].le })
	return out
}

// quantile estimates the q-quantile from cumulative buckets as Prometheus's
// histogram_quantile does: linear interpolation inside the bucket that
// holds the rank, the last finite bound when the rank is in +Inf.
func quantile(q float64, buckets []bucket) float64 {
	if len(buckets) == 0 || buckets[len(buckets)-1].count <= 0 {
		return math.NaN()
	}
	rank := q * buckets[len(buckets)-1].count
	lowerLe, lowerCount := 0.0, 0.0
	for _, bk := range buckets {
		if bk.count >= rank {
			if math.IsInf(bk.le, 1) {
				return lowerLe
			}
			if bk.count == lowerCount {
				return bk.le
			}
			return lowerLe + (bk.le-lowerLe)*(rank-lowerCount)/(bk.count-lowerCount)
		}
		lowerLe, lowerCount = bk.le, bk.count
	}
	return lowerLe
}

func printStats(w io.Writer, rows []statsRow) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "NODE\tREQ/S\tHIT%\tERR/S\tP95\tPURGE SEQ\tBEHIND\tLAG\t")
	for _, r := range rows {
		if r.err != nil {
			fmt.Fprintf(tw, "%s\terror\t-\t-\t-\t-\t-\t-\t\n", r.node)
			continue
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%s\t%.1f\t%s\t%s\t%s\t%s\t\n", r.node, r.reqRate,
			orDash(r.hitRatio, func(v float64) string { return strconv.FormatFloat(100*v, 'f', 1, 64) }),
			r.errRate, orDash(r.p95, seconds),
			orDash(r.purgeSeq, func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }),
			orDash(r.purgeBehind, func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }),
			orDash(r.purgeLag, seconds))
	}
	tw.Flush()
}

func orDash(v float64, format func(float64) string) string {
	if math.IsNaN(v) {
		return "-"
	}
	return format(v)
}

// seconds prints a duration of v seconds rounded for a table: 1.2ms, 340µs.
func seconds(v float64) string {
	d := time.Duration(v * float64(time.Second))
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	default:
		return d.Round(time.Microsecond).String()
	}
}

// isTerminal reports whether w is a terminal (a character device): there a
// table redraws in place and a progress line rewrites itself; elsewhere
// (a pipe, a file, a CI log) every line stays.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
