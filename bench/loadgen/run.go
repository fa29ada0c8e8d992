package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"edged/bench/stats"
)

// Config is one closed-loop load run: Conns workers, each with its own
// keep-alive connection, send a request, read the whole answer, and send
// the next, until Duration passes or MaxRequests have been sent.
type Config struct {
	// URL returns the URL of worker's i-th request (i counts from 0 for
	// each worker). Required.
	URL func(worker, i int) string
	// Conns is the number of concurrent connections; 0 means 1.
	Conns int
	// Duration bounds the run; 0 means 10 s.
	Duration time.Duration
	// MaxRequests bounds the run; 0 means 1,000,000.
	MaxRequests int
	// Header is sent with every request (nil: none). Accept-Encoding is
	// never added behind the caller's back.
	Header http.Header
	// Classify names a response's class (hit, miss, …) for Result.Classes;
	// nil counts nothing.
	Classify func(*http.Response) string
	// Proxy, when set, is a forward proxy every request goes through: an
	// http:// URL is then sent to it in absolute form (RFC 9112 §3.2.2).
	Proxy *url.URL
}

// Result is what one run measured.
type Result struct {
	Requests int // answered with a status below 400
	Errors   int // transport errors and statuses of 400 or more
	Elapsed  time.Duration
	Bytes    int64
	Lat      stats.Latencies
	Classes  map[string]int
	// FirstError is the first error seen, for the report.
	FirstError error
}

// RPS is requests per second.
func (r Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// NewTransport returns a keep-alive transport for conns connections to one
// host, without transparent compression.
func NewTransport(conns int) *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: -1}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
}

// worker is one connection's loop and its own samples.
type worker struct {
	lat     []time.Duration
	ok, bad int
	bytes   int64
	classes map[string]int
	err     error
}

// Run runs cfg and returns what it measured. An error means the run could
// not start; failing requests are counted in Result.Errors.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.URL == nil {
		return Result{}, errors.New("loadgen: Config.URL is nil")
	}
	conns := max(cfg.Conns, 1)
	dur := cfg.Duration
	if dur <= 0 {
		dur = 10 * time.Second
	}
	limit := cfg.MaxRequests
	if limit <= 0 {
		limit = 1_000_000
	}
	tr := NewTransport(conns)
	if cfg.Proxy != nil {
		tr.Proxy = http.ProxyURL(cfg.Proxy)
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()

	var sent atomic.Int64
	ws := make([]*worker, conns)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range ws {
		w := &worker{lat: make([]time.Duration, 0, min(limit/conns+1, 1<<16)), classes: map[string]int{}}
		ws[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil && sent.Add(1) <= int64(limit); n++ {
				w.do(ctx, client, cfg, i, n)
			}
		}()
	}
	wg.Wait()
	res := Result{Elapsed: time.Since(start), Classes: map[string]int{}}
	var all []time.Duration
	for _, w := range ws {
		res.Requests += w.ok
		res.Errors += w.bad
		res.Bytes += w.bytes
		all = append(all, w.lat...)
		for k, v := range w.classes {
			res.Classes[k] += v
		}
		if res.FirstError == nil {
			res.FirstError = w.err
		}
	}
	res.Lat = stats.Summarize(all)
	return res, nil
}

func (w *worker) do(ctx context.Context, c *http.Client, cfg Config, id, n int) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.URL(id, n), nil)
	if err != nil {
		w.fail(err)
		return
	}
	for k, v := range cfg.Header {
		req.Header[k] = v
	}
	t0 := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() == nil { // the end of the run is not an error
			w.fail(err)
		}
		return
	}
	nb, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	if err != nil {
		if ctx.Err() == nil {
			w.fail(err)
		}
		return
	}
	if resp.StatusCode >= 400 {
		w.fail(fmt.Errorf("status %d", resp.StatusCode))
		return
	}
	w.ok++
	w.bytes += nb
	w.lat = append(w.lat, d)
	if cfg.Classify != nil {
		w.classes[cfg.Classify(resp)]++
	}
}

func (w *worker) fail(err error) {
	w.bad++
	if w.err == nil {
		w.err = err
	}
}
