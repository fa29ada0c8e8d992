package targets

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Metrics are Prometheus text-format samples by series, as written:
// `edged_requests_total{cache="hit"}` → 12.
type Metrics map[string]float64

// ParseMetrics reads the Prometheus text exposition format (comments
// skipped, timestamps ignored).
func ParseMetrics(r io.Reader) (Metrics, error) {
	m := Metrics{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		// The series ends at the last '}' when there are labels, else at
		// the first space.
		end := strings.LastIndexByte(line, '}') + 1
		if end == 0 {
			end = strings.IndexByte(line, ' ')
		}
		if end <= 0 || end >= len(line) {
			return nil, fmt.Errorf("metrics: bad line %q", line)
		}
		f := strings.Fields(line[end:])
		if len(f) == 0 {
			return nil, fmt.Errorf("metrics: no value in %q", line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics: %q: %w", line, err)
		}
		m[line[:end]] = v
	}
	return m, sc.Err()
}

// FetchMetrics reads url (an admin /metrics).
func FetchMetrics(ctx context.Context, url string) (Metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: %s: status %d", url, resp.StatusCode)
	}
	return ParseMetrics(resp.Body)
}

// Requests returns edged_requests_total by cache outcome, summed over its
// other labels (site, route, status class).
func (m Metrics) Requests() map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		labels, ok := strings.CutPrefix(k, "edged_requests_total{")
		if !ok {
			continue
		}
		// Label values here are outcome names and configured names:
		// `cache="` starts the value wherever the label sits.
		_, rest, ok := strings.Cut(","+labels, `,cache="`)
		if !ok {
			continue
		}
		outcome, _, _ := strings.Cut(rest, `"`)
		out[outcome] += v
	}
	return out
}

// HitRatio is the share of hits among the requests counted between before
// and after (edged_requests_total{cache="hit"} over all outcomes), and the
// number of requests; NaN-free: 0 when nothing was counted.
func HitRatio(before, after Metrics) (ratio, total float64) {
	b, a := before.Requests(), after.Requests()
	var hits float64
	for k, v := range a {
		d := v - b[k]
		total += d
		if k == "hit" {
			hits = d
		}
	}
	if total == 0 {
		return 0, 0
	}
	return hits / total, total
}
