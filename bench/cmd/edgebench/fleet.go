package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"edged/bench/report"
	"edged/bench/targets"
)

// target is one server measured side by side.
type target struct {
	name    string
	base    string // http://127.0.0.1:port
	admin   string // edged's admin base URL ("" for others)
	proc    *targets.Proc
	headers []string // request headers, "Name: value"
	skip    string   // why it is not measured ("" when it is)
	// isHit tells a cache hit from its response headers (nil: not a cache).
	isHit func(http.Header) bool
}

// Target names, in the order of the tables.
const (
	tOrigin   = "origin"
	tCeiling  = "ceiling"
	tNginx    = "nginx"
	tVarnish  = "varnish"
	tEdgedMem = "edged mem"
	// tEdgedNoLog is edged mem with its access log off: beside edged mem
	// it measures what the log costs (#17).
	tEdgedNoLog = "edged mem nolog"
	tEdgedDisk  = "edged disk"
	tEdgedBr    = "edged br"
	tEdgedWAF   = "edged waf"
)

// wafSite gives the "edged waf" target one site whose only route runs the
// OWASP CRS in block mode at paranoia level 1 (edge/waf): its hit rows,
// beside edged mem's, are what the WAF costs per request.
const wafSite = `sites:
  - name: bench
    hosts: [127.0.0.1]
    routes:
      - path: /
        waf: {mode: block, paranoia_level: 1}
`

// browserHeaders are the request fields of a browser's page load: the WAF
// inspects every one, so its target is measured with them.
var browserHeaders = []string{
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
	"Accept-Language: en-US,en;q=0.5",
}

// bench holds a run's state: options, tools and everything started.
type bench struct {
	o     options
	dir   string
	tools tools
	bins  binaries
	runID string

	mu    sync.Mutex // guards procs
	procs []*targets.Proc

	originAddr string
	all        []*target // in table order
	byName     map[string]*target
}

func edgedHit(h http.Header) bool {
	// RFC 9211 §2.1: the hit parameter; the first member is edged's own.
	first, _, _ := strings.Cut(h.Get("Cache-Status"), ",")
	return strings.Contains(first, "; hit")
}
func nginxHit(h http.Header) bool   { return h.Get("X-Cache-Status") == "HIT" }
func varnishHit(h http.Header) bool { return h.Get("X-Cache") == "HIT" }

// start starts a process with env ("NAME=value") added to the bench's
// environment, waits until readyURL answers and registers it for stopAll.
func (b *bench) start(ctx context.Context, name, readyURL string, argv []string, env ...string) (*targets.Proc, error) {
	p, err := targets.Start(name, b.dir, argv, env...)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.procs = append(b.procs, p)
	b.mu.Unlock()
	if err := p.WaitHTTP(ctx, readyURL, 30*time.Second); err != nil {
		_ = b.stop(p)
		return nil, err
	}
	return p, nil
}

// stop stops p and forgets it.
func (b *bench) stop(p *targets.Proc) error {
	err := p.Stop(20 * time.Second)
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, q := range b.procs {
		if q == p {
			b.procs = append(b.procs[:i], b.procs[i+1:]...)
			break
		}
	}
	return err
}

// stopAll stops everything still running, newest first.
func (b *bench) stopAll() {
	b.mu.Lock()
	procs := append([]*targets.Proc(nil), b.procs...)
	b.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		if err := b.stop(procs[i]); err != nil {
			logf("%v", err)
		}
	}
}

func (b *bench) add(t *target) {
	if t.skip == "" && !b.o.wantsTarget(t.name) {
		t.skip = "left out by -targets"
	}
	b.all = append(b.all, t)
	b.byName[t.name] = t
}

// startFleet starts the origin and every target. nginx and Varnish are
// skipped with a reason when they are missing or do not start; the
// origin, the ceiling and edged must start.
func (b *bench) startFleet(ctx context.Context) error {
	b.byName = map[string]*target{}
	b.runID = fmt.Sprintf("%x", time.Now().UnixNano()&0xffffffff)
	addr, err := targets.FreeAddr()
	if err != nil {
		return err
	}
	b.originAddr = addr
	p, err := b.start(ctx, "origin", "http://"+addr+"/_stats", []string{b.bins.origin, "-listen", addr})
	if err != nil {
		return err
	}
	b.add(&target{name: tOrigin, base: "http://" + addr, proc: p})

	if addr, err = targets.FreeAddr(); err != nil {
		return err
	}
	p, err = b.start(ctx, "ceiling", "http://"+addr+"/obj/1/ready", []string{b.bins.origin, "-listen", addr, "-ceiling"})
	if err != nil {
		return err
	}
	b.add(&target{name: tCeiling, base: "http://" + addr, proc: p})
	b.add(b.startNginx(ctx))
	b.add(b.startVarnish(ctx))

	// The hit targets log every request, as operators run edged (the
	// access log is on by default) and as nginx does here.
	mem, err := b.startEdgedConf(ctx, tEdgedMem, targets.Edged{Memory: "256MiB", AccessLog: b.accessLogPath(tEdgedMem)})
	if err != nil {
		return err
	}
	b.add(mem)
	noLog, err := b.startEdgedConf(ctx, tEdgedNoLog, targets.Edged{Memory: "256MiB"})
	if err != nil {
		return err
	}
	b.add(noLog)
	disk, err := b.startEdgedConf(ctx, tEdgedDisk, targets.Edged{Memory: "0", AccessLog: b.accessLogPath(tEdgedDisk)})
	if err != nil {
		return err
	}
	b.add(disk)
	if b.o.base != "" {
		// The same two targets run by a baseline binary, measured in the
		// same run so that old and new compare without run-to-run noise.
		for _, e := range []targets.Edged{{Memory: "256MiB", AccessLog: b.accessLogPath(tEdgedMem + baseSuffix)}, {Memory: "0", AccessLog: b.accessLogPath(tEdgedDisk + baseSuffix)}} {
			name := map[string]string{"0": tEdgedDisk}[e.Memory]
			if name == "" {
				name = tEdgedMem
			}
			t, err := b.startEdgedBin(ctx, name+baseSuffix, e, filepath.Join(b.o.base, "edged"))
			if err != nil {
				return err
			}
			b.add(t)
		}
	}
	br := *mem
	br.name = tEdgedBr
	br.headers = []string{"Accept-Encoding: br"}
	br.skip = b.probeBrotli(ctx, &br)
	b.add(&br)
	wafT, err := b.startEdged(ctx, tEdgedWAF, "256MiB", 0, wafSite)
	if err != nil {
		return err
	}
	wafT.headers = browserHeaders
	b.add(wafT)
	if b.o.base != "" {
		// And the baseline binary's WAF, as its mem and disk targets.
		t, err := b.startEdgedBin(ctx, tEdgedWAF+baseSuffix, targets.Edged{Memory: "256MiB", Extra: wafSite}, filepath.Join(b.o.base, "edged"))
		if err != nil {
			return err
		}
		t.headers = browserHeaders
		b.add(t)
	}
	for _, t := range b.all {
		if t.skip != "" {
			logf("%s skipped: %s", t.name, t.skip)
		}
	}
	return nil
}

// targetsSection says what each target of the hit tables runs, so that a
// reader knows which features each number pays for.
func (b *bench) targetsSection() report.Section {
	about := map[string]string{
		tOrigin:  "the test origin (benchorigin), asked directly: no cache.",
		tCeiling: "a minimal Go HTTP server answering from memory: about the most any Go server does on this machine.",
		tNginx: fmt.Sprintf("proxy_cache (files under the page cache, cache lock on), %d workers, keep-alive to the origin; "+
			"access log on: combined format to a file, `buffer=64k flush=1s`.", runtime.NumCPU()),
		tVarnish: "malloc storage 256 MiB, the built-in VCL plus an X-Cache header; its log stays in shared memory (no varnishncsa runs), as Varnish ships.",
		tEdgedMem: "memory tier 256 MiB over the disk tier, compression on, Prometheus metrics, admin listener; " +
			"access log on, as by default: JSON lines to a file, buffered (64 KiB, flushed every 1 s).",
		tEdgedNoLog: "edged mem with `log.access: false`: beside edged mem, what the access log costs.",
		tEdgedDisk:  "memory tier off, so every hit is read from the disk tier (bbolt); access log on as edged mem.",
		tEdgedBr:    "the edged mem process asked with `Accept-Encoding: br`: the stored brotli variant.",
	}
	sec := report.Section{Title: "What each target runs"}
	for _, t := range b.all {
		if a, ok := about[t.name]; ok {
			sec.Lines = append(sec.Lines, t.name+": "+a)
		}
	}
	return sec
}

func (b *bench) startNginx(ctx context.Context) *target {
	t := &target{name: tNginx, isHit: nginxHit}
	if b.tools.nginx == "" {
		t.skip = b.tools.why["nginx"]
		return t
	}
	addr, err := targets.FreeAddr()
	if err != nil {
		t.skip = err.Error()
		return t
	}
	n := targets.Nginx{Listen: addr, Origin: b.originAddr, Dir: filepath.Join(b.dir, "nginx"), Workers: runtime.NumCPU()}
	conf, err := n.Render()
	if err == nil {
		err = writeDir(n.Dir, "nginx.conf", conf)
	}
	if err != nil {
		t.skip = "nginx config: " + err.Error()
		return t
	}
	p, err := b.start(ctx, "nginx", "http://"+addr+"/obj/1/ready", n.Argv(b.tools.nginx, filepath.Join(n.Dir, "nginx.conf")))
	if err != nil {
		t.skip = "nginx did not start: " + oneLine(err.Error())
		return t
	}
	t.base, t.proc = "http://"+addr, p
	return t
}

func (b *bench) startVarnish(ctx context.Context) *target {
	t := &target{name: tVarnish, isHit: varnishHit}
	if b.tools.varnishd == "" {
		t.skip = b.tools.why["varnishd"]
		return t
	}
	addr, err := targets.FreeAddr()
	if err != nil {
		t.skip = err.Error()
		return t
	}
	v := targets.Varnish{Listen: addr, Origin: b.originAddr, WorkDir: filepath.Join(b.dir, "varnish"),
		VCL: filepath.Join(b.dir, "varnish.vcl"), Malloc: "256m"}
	vcl, err := v.RenderVCL()
	if err == nil {
		err = os.WriteFile(v.VCL, []byte(vcl), 0o644)
	}
	if err != nil {
		t.skip = "varnish config: " + err.Error()
		return t
	}
	p, err := b.start(ctx, "varnish", "http://"+addr+"/obj/1/ready", v.Argv(b.tools.varnishd))
	if err != nil {
		t.skip = "varnishd did not start: " + oneLine(err.Error())
		return t
	}
	t.base, t.proc = "http://"+addr, p
	return t
}

// startEdged starts an edged node in front of the origin, without an
// access log.
func (b *bench) startEdged(ctx context.Context, name, memory string, writeQueue int, extra string) (*target, error) {
	return b.startEdgedConf(ctx, name, targets.Edged{Memory: memory, WriteQueue: writeQueue, Extra: extra})
}

// accessLogPath is the access log file of the edged target name.
func (b *bench) accessLogPath(name string) string {
	return filepath.Join(b.dir, strings.ReplaceAll(name, " ", "-")+"-access.log")
}

// startEdgedConf starts an edged node in front of the origin with e's
// settings; the addresses, origin and data directory are filled in here.
func (b *bench) startEdgedConf(ctx context.Context, name string, e targets.Edged) (*target, error) {
	return b.startEdgedBin(ctx, name, e, b.bins.edged)
}

// baseSuffix ends the names of the targets -base's binary runs.
const baseSuffix = " base"

// startEdgedBin is startEdgedConf running the edged binary bin, with env
// added to its environment.
func (b *bench) startEdgedBin(ctx context.Context, name string, e targets.Edged, bin string, env ...string) (*target, error) {
	listen, err := targets.FreeAddr()
	if err != nil {
		return nil, err
	}
	admin, err := targets.FreeAddr()
	if err != nil {
		return nil, err
	}
	slug := strings.ReplaceAll(name, " ", "-")
	e.Listen, e.Admin, e.Origin, e.Data = listen, admin, "http://"+b.originAddr, filepath.Join(b.dir, slug+"-data")
	conf, err := e.Render()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(b.dir, slug+".yaml")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	p, err := b.start(ctx, slug, "http://"+admin+"/healthz", []string{bin, "-config", path}, env...)
	if err != nil {
		return nil, fmt.Errorf("edged (%s): %w", name, err)
	}
	return &target{name: name, base: "http://" + listen, admin: "http://" + admin, proc: p, isHit: edgedHit}, nil
}

// restartEdged stops t's process and starts it again with the same
// config, returning when the process has been started (not when ready).
func (b *bench) restartEdged(t *target) (*targets.Proc, error) {
	slug := strings.ReplaceAll(t.name, " ", "-")
	if err := b.stop(t.proc); err != nil {
		return nil, err
	}
	p, err := targets.Start(slug+"-restarted", b.dir, []string{b.bins.edged, "-config", filepath.Join(b.dir, slug+".yaml")})
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.procs = append(b.procs, p)
	b.mu.Unlock()
	t.proc = p
	return p, nil
}

// probeBrotli says why the brotli target is skipped, "" when edged
// answers Content-Encoding: br to Accept-Encoding: br.
func (b *bench) probeBrotli(ctx context.Context, t *target) string {
	url := t.base + "/obj/102400/probe-br-" + b.runID
	var enc string
	for range 2 { // a miss, then a hit
		h, _, err := get(ctx, url, t.headers)
		if err != nil {
			return "probe failed: " + err.Error()
		}
		enc = h.Get("Content-Encoding")
	}
	if enc != "br" {
		return fmt.Sprintf("edged does not compress yet (Accept-Encoding: br answered with Content-Encoding %q)", enc)
	}
	return ""
}

var probeClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableCompression: true}}

// get fetches url with headers ("Name: value") and returns the response
// header and body size.
func get(ctx context.Context, url string, headers []string) (http.Header, int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, err
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return nil, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.Header, n, fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	return resp.Header, n, nil
}

func writeDir(dir, name, content string) error {
	// nginx's workers run as an unprivileged user and write the cache.
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644)
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return tail(s, 300)
}
