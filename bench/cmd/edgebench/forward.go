package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"edged/bench/loadgen"
	"edged/bench/report"
	"edged/bench/stats"
	"edged/bench/targets"
)

// The forward-proxy scenario (issue 14, "Measured"): hits through a
// caching forward proxy with absolute-form targets, and CONNECT tunnel
// throughput, edged's forward role beside Squid, each in the same run.

// Forward target names.
const (
	tDirect       = "direct (no proxy)"
	tSquid        = "squid"
	tEdgedForward = "edged forward"
)

// forwardFleet is what the forward scenario starts.
type forwardFleet struct {
	proxies []*target // squid, edged forward (skipped ones carry the reason)
	squidV  string
	sink    *tunnelSink
	// tunnelMBps is target → streams → MB/s, for the checks.
	tunnelMBps map[string]map[int]stats.Spread
}

func squidHit(h http.Header) bool { return strings.HasPrefix(h.Get("X-Cache"), "HIT") }

// findSquid finds squid, installing Debian's package when it is missing
// and allowed. It returns the path, or "" and why not.
func findSquid(ctx context.Context, o options) (string, string) {
	if p := lookPath("squid"); p != "" {
		return p, ""
	}
	if why := aptInstall(ctx, o, "squid"); why != "" {
		return "", "squid " + why
	}
	if p := lookPath("squid"); p != "" {
		return p, ""
	}
	return "", "squid not found after installing"
}

// startForward starts the tunnel sink, Squid and edged's forward role.
func (b *bench) startForward(ctx context.Context) (*forwardFleet, error) {
	sink, err := startTunnelSink()
	if err != nil {
		return nil, err
	}
	f := &forwardFleet{sink: sink}
	f.proxies = append(f.proxies, b.startSquid(ctx, f), b.startEdgedForward(ctx, sink.port()))
	for _, t := range f.proxies {
		if t.skip != "" {
			logf("%s skipped: %s", t.name, t.skip)
		}
	}
	return f, nil
}

func (b *bench) startSquid(ctx context.Context, f *forwardFleet) *target {
	t := &target{name: tSquid, isHit: squidHit}
	bin, why := findSquid(ctx, b.o)
	if bin == "" {
		t.skip = why
		return t
	}
	f.squidV = version(ctx, bin, "-v")
	addr, err := targets.FreeAddr()
	if err != nil {
		t.skip = err.Error()
		return t
	}
	s := targets.Squid{Listen: addr, Dir: filepath.Join(b.dir, "squid")}
	conf, err := s.Render()
	if err == nil {
		// Squid drops root for its proxy user, which must write the dir.
		err = writeDir(s.Dir, "squid.conf", conf)
	}
	if err != nil {
		t.skip = "squid config: " + err.Error()
		return t
	}
	p, err := b.start(ctx, "squid", "http://"+addr+"/", s.Argv(bin, filepath.Join(s.Dir, "squid.conf")))
	if err != nil {
		t.skip = "squid did not start: " + oneLine(err.Error())
		return t
	}
	t.base, t.proc = "http://"+addr, p
	return t
}

// startEdgedForward runs edged -role forward from a config file. While
// the binary has no forward role it is skipped with its own error.
func (b *bench) startEdgedForward(ctx context.Context, sinkPort int) *target {
	t := &target{name: tEdgedForward, isHit: edgedHit}
	listen, err := targets.FreeAddr()
	if err == nil {
		var admin string
		if admin, err = targets.FreeAddr(); err == nil {
			t.admin = "http://" + admin
		}
	}
	if err != nil {
		t.skip = err.Error()
		return t
	}
	e := targets.EdgedForward{Listen: listen, Admin: strings.TrimPrefix(t.admin, "http://"),
		Data: filepath.Join(b.dir, "edged-forward-data"), ConnectPorts: []int{sinkPort}}
	conf, err := e.Render()
	path := filepath.Join(b.dir, "edged-forward.yaml")
	if err == nil {
		err = os.WriteFile(path, []byte(conf), 0o644)
	}
	if err != nil {
		t.skip = err.Error()
		return t
	}
	p, err := b.start(ctx, "edged-forward", t.admin+"/healthz", []string{b.bins.edged, "-config", path})
	if err != nil {
		t.skip = "edged -role forward did not start: " + oneLine(err.Error())
		return t
	}
	t.base, t.proc = "http://"+listen, p
	return t
}

// fwdHitScenario names a hit scenario through forward proxies.
func fwdHitScenario(size, conns int) string {
	return fmt.Sprintf("forward proxy: hit %s, %d conns (absolute-form)", sizeName(size), conns)
}

// runForward runs the forward proxy scenarios.
func (b *bench) runForward(ctx context.Context, res *results) error {
	f, err := b.startForward(ctx)
	if err != nil {
		return err
	}
	defer func() {
		for _, t := range f.proxies {
			if t.proc != nil {
				_ = b.stop(t.proc)
			}
		}
		f.sink.close()
	}()
	origin := b.byName[tOrigin]
	direct := &target{name: tDirect, base: origin.base, proc: origin.proc}
	sizes := []int{1 << 10, 100 << 10}
	for _, size := range sizes {
		rows, err := b.runForwardHits(ctx, f, direct, size, 64)
		if err != nil {
			return err
		}
		res.rows = append(res.rows, rows...)
	}
	tun, err := b.runTunnels(ctx, f)
	if err != nil {
		return err
	}
	res.sections = append(res.sections, tun, b.forwardNotes(f))
	res.forwardChecks = b.forwardChecks(f, res)
	return nil
}

// runForwardHits measures hits of one size through each proxy, with the
// origin answering directly as the reference, targets alternating.
func (b *bench) runForwardHits(ctx context.Context, f *forwardFleet, direct *target, size, conns int) ([]report.Row, error) {
	sc := fwdHitScenario(size, conns)
	logf("scenario: %s", sc)
	objURL := b.byName[tOrigin].base + fmt.Sprintf("/obj/%d/fwd-hit", size)
	all := append([]*target{direct}, f.proxies...)
	notes := map[string]string{}
	for _, t := range f.proxies {
		if t.skip == "" {
			notes[t.name] = warmVia(ctx, t, objURL)
		}
	}
	samples := map[string][]sample{}
	for range b.o.reps {
		for _, t := range all {
			if t.skip != "" {
				continue
			}
			proxy := t.base
			if t == direct {
				proxy = ""
			}
			s, err := measure(t, func() (loadgen.Result, error) {
				return b.loadVia(ctx, proxy, objURL, conns, b.o.duration)
			})
			if err != nil {
				return nil, err
			}
			samples[t.name] = append(samples[t.name], s)
		}
	}
	var rows []report.Row
	for _, t := range all {
		if t.skip != "" {
			rows = append(rows, report.Row{Scenario: sc, Target: t.name, Skipped: t.skip})
			continue
		}
		rows = append(rows, rowOf(sc, t, samples[t.name], notes[t.name]))
	}
	return rows, nil
}

// warmVia fetches target through proxy t until it is a hit (3 tries).
func warmVia(ctx context.Context, t *target, objURL string) string {
	pu, err := url.Parse(t.base)
	if err != nil {
		return err.Error()
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(pu), DisableCompression: true}}
	defer c.CloseIdleConnections()
	for range 3 {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, objURL, nil)
		if err != nil {
			return err.Error()
		}
		resp, err := c.Do(req)
		if err != nil {
			return "warm-up failed: " + oneLine(err.Error())
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Sprintf("warm-up: status %d", resp.StatusCode)
		}
		if t.isHit(resp.Header) {
			return ""
		}
	}
	return "NOT A HIT after 3 requests"
}

// loadVia runs one closed-loop load of target through proxy ("" for
// none). wrk sends absolute-form request lines through a Lua script that
// sets wrk.path to the whole URL; the Go client uses the proxy as
// net/http does.
func (b *bench) loadVia(ctx context.Context, proxy, target string, conns int, dur time.Duration) (loadgen.Result, error) {
	if proxy == "" {
		return b.load(ctx, target, conns, dur, nil)
	}
	if b.useWrk() {
		u, err := url.Parse(target)
		if err != nil {
			return loadgen.Result{}, err
		}
		script := filepath.Join(b.dir, "absolute-form.lua")
		lua := fmt.Sprintf("wrk.path = %q\nwrk.headers[\"Host\"] = %q\n", target, u.Host)
		if err := os.WriteFile(script, []byte(lua), 0o644); err != nil {
			return loadgen.Result{}, err
		}
		return loadgen.Wrk{Path: b.tools.wrk, Threads: 2}.Run(ctx, loadgen.WrkRun{URL: proxy + "/", Conns: conns, Duration: dur, Script: script})
	}
	pu, err := url.Parse(proxy)
	if err != nil {
		return loadgen.Result{}, err
	}
	return loadgen.Run(ctx, loadgen.Config{
		URL:         func(int, int) string { return target },
		Conns:       conns,
		Duration:    dur,
		MaxRequests: 20_000_000,
		Proxy:       pu,
	})
}

// forwardNotes says what each target ran with, so the numbers can be read
// for what they are.
func (b *bench) forwardNotes(f *forwardFleet) report.Section {
	squid := f.squidV
	if squid == "" {
		squid = "not run"
	}
	return report.Section{Title: "Forward proxy notes", Lines: []string{
		"Squid: " + squid + "; one process (-N), memory cache only (cache_mem 256 MB, no cache_dir, memory_cache_mode always), access_log none, its default Via and X-Forwarded-For, no helpers; its internal counters are always on.",
		"edged forward: `edged -config` with role: forward, cache.memory 256MiB, log.access false (no JSON line per request), Prometheus metrics on (always registered; served on the admin listener), default anonymity (X-Forwarded-For, Forwarded, Via, From removed; its own Via added), no rules, no authentication; loopback destinations allowed by forward.dial.allow_networks.",
		"Hits: wrk sends absolute-form request lines (`GET http://origin/obj/SIZE/fwd-hit HTTP/1.1`) through a Lua script that sets wrk.path; the built-in Go client goes through the proxy as net/http does. direct (no proxy) is the origin answering the same URL itself.",
		"Tunnels: a TCP server in edgebench sends bytes as fast as it can; the client reads for the run's duration through `CONNECT 127.0.0.1:port` (TLS would add the same cost on every path, so the tunnels carry plain bytes), or connects directly. CPU s/GB is read from /proc during each run, for edgebench (one process: the sink and the client) and for the proxy; with every core busy, the ratio of those sums bounds the throughput ratio.",
	}}
}

// forwardChecks compares the run with issue 14's goals.
func (b *bench) forwardChecks(f *forwardFleet, res *results) []report.Check {
	rep := report.Report{Rows: res.rows}
	rps := func(sc, t string) float64 {
		row, ok := rep.Find(sc, t)
		if !ok || row.Skipped != "" {
			return math.NaN()
		}
		return row.RPS.Median
	}
	var cs []report.Check
	for _, g := range []struct {
		size int
		want float64
	}{{1 << 10, 1.25}, {100 << 10, 3}} {
		sc := fwdHitScenario(g.size, 64)
		name := fmt.Sprintf("forward proxy %s hit, 64 conns: throughput", sizeName(g.size))
		goal := fmt.Sprintf("≥ %.2f× Squid", g.want)
		if why := skipWhy(f, tSquid, tEdgedForward); why != "" {
			cs = append(cs, report.Skip(name, goal, why))
			continue
		}
		cs = append(cs, report.AtLeast(name, goal, rps(sc, tEdgedForward)/rps(sc, tSquid), g.want, "%.2f× Squid"))
	}
	name, goal := "CONNECT tunnel throughput, 1 stream", "≥ 0.90× direct"
	if why := skipWhy(f, tEdgedForward); why != "" {
		cs = append(cs, report.Skip(name, goal, why))
	} else {
		r := f.tunnelMBps[tEdgedForward][1].Median / f.tunnelMBps[tDirect][1].Median
		cs = append(cs, report.AtLeast(name, goal, r, 0.9, "%.2f× direct"))
	}
	return cs
}

// skipWhy is the reason the first of names was skipped, "" when none was.
func skipWhy(f *forwardFleet, names ...string) string {
	for _, n := range names {
		for _, t := range f.proxies {
			if t.name == n && t.skip != "" {
				return n + " skipped: " + t.skip
			}
		}
	}
	return ""
}
