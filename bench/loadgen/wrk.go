package loadgen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// ErrWrkOutput reports a wrk report this parser does not understand.
var ErrWrkOutput = errors.New("loadgen: unexpected wrk output")

// Wrk runs the wrk load generator (https://github.com/wg/wrk).
type Wrk struct {
	Path    string // the wrk binary
	Threads int    // -t; 0 means 2
}

// WrkRun is one wrk run's parameters.
type WrkRun struct {
	URL      string
	Conns    int
	Duration time.Duration
	Headers  []string // "Name: value"
	// Script is a Lua script file passed with -s ("" for none), e.g. one
	// that sets wrk.path to an absolute URL for a forward proxy.
	Script string
}

// Run runs wrk and parses its report. wrk bounds the run by -d; the
// process is killed if it overruns that by 30 s.
func (w Wrk) Run(ctx context.Context, r WrkRun) (Result, error) {
	threads := w.Threads
	if threads <= 0 {
		threads = 2
	}
	threads = min(threads, r.Conns)
	secs := max(int(r.Duration.Round(time.Second)/time.Second), 1)
	args := []string{"-t", strconv.Itoa(threads), "-c", strconv.Itoa(r.Conns),
		"-d", strconv.Itoa(secs) + "s", "--timeout", "5s", "--latency"}
	for _, h := range r.Headers {
		args = append(args, "-H", h)
	}
	if r.Script != "" {
		args = append(args, "-s", r.Script)
	}
	args = append(args, r.URL)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, w.Path, args...).CombinedOutput()
	if err != nil {
		return Result{}, fmt.Errorf("wrk %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return ParseWrk(string(out))
}

// ParseWrk parses wrk's report (run with --latency).
func ParseWrk(out string) (Result, error) {
	var res Result
	var total, non2xx int
	var haveRPS bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "50%":
			d, err := parseWrkDuration(f[1])
			if err != nil {
				return Result{}, err
			}
			res.Lat.P50 = d
		case len(f) == 2 && f[0] == "99%":
			d, err := parseWrkDuration(f[1])
			if err != nil {
				return Result{}, err
			}
			res.Lat.P99 = d
		case len(f) >= 5 && f[1] == "requests" && f[2] == "in":
			n, err := strconv.Atoi(f[0])
			if err != nil {
				return Result{}, fmt.Errorf("%w: %q", ErrWrkOutput, sc.Text())
			}
			total = n
			d, err := parseWrkDuration(strings.TrimSuffix(f[3], ","))
			if err != nil {
				return Result{}, err
			}
			res.Elapsed = d
		case len(f) == 5 && f[0] == "Non-2xx":
			n, err := strconv.Atoi(f[4])
			if err != nil {
				return Result{}, fmt.Errorf("%w: %q", ErrWrkOutput, sc.Text())
			}
			non2xx = n
		case len(f) >= 2 && f[0] == "Socket" && f[1] == "errors:":
			// "Socket errors: connect 0, read 0, write 0, timeout 0"
			for i := 2; i+1 < len(f); i += 2 {
				n, err := strconv.Atoi(strings.TrimSuffix(f[i+1], ","))
				if err != nil {
					return Result{}, fmt.Errorf("%w: %q", ErrWrkOutput, sc.Text())
				}
				res.Errors += n
			}
		case len(f) == 2 && f[0] == "Requests/sec:":
			haveRPS = true
		}
	}
	if !haveRPS || res.Elapsed <= 0 {
		return Result{}, fmt.Errorf("%w: no request count or rate in %q", ErrWrkOutput, out)
	}
	res.Requests = total - non2xx
	res.Errors += non2xx
	res.Lat.N = total
	if res.Lat.P99 < res.Lat.P50 {
		return Result{}, fmt.Errorf("%w: p99 %v below p50 %v", ErrWrkOutput, res.Lat.P99, res.Lat.P50)
	}
	return res, nil
}

// parseWrkDuration parses wrk's time format: a number and us, ms, s, m or h.
func parseWrkDuration(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"m", time.Minute}, {"h", time.Hour}, {"s", time.Second}}
	for _, u := range units {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		// "ms" also ends in "s", and "m" would match "ms": the order above
		// tries the two-letter suffixes first, then "m" only without "s".
		v, err := strconv.ParseFloat(num, 64)
		if err != nil {
			continue
		}
		return time.Duration(v * float64(u.unit)), nil
	}
	return 0, fmt.Errorf("%w: duration %q", ErrWrkOutput, s)
}
