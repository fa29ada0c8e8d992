// Command soak measures edged's memory under load, on loopback only.
//
// It builds (or takes with -bin) the edged binary, runs it against an
// in-process origin with a memory tier of -memory bytes, and reads the
// node's resident set from /proc/PID/status (RssAnon, the process's own
// memory, which the budget is about; RssFile, bbolt's mapped file pages):
//
//   - keys phase: -keys distinct objects (default 1,000,000) of -size bytes
//     each go through the node once; it reports the peak RSS against the
//     memory budget plus -overhead (by default what edged's own soft memory
//     limit allows above the budget), and fails (exit 1) above it.
//   - steady phase (-steady 10m): a constant load over a key space of twice
//     -keys (half hits, half misses: the memory tier keeps churning) for that
//     long, printing RSS every -every; it reports the growth between the
//     first and the last quarter of the samples.
//
// It is bounded in time (-max, default 30m, kills the node and exits) and
// is not part of make test. Run from the module root:
//
//	go run ./bench/soak                          # 1M keys, then no steady phase
//	go run ./bench/soak -keys 200000 -steady 2m  # shorter
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"edged/bench/procstat"
)

type options struct {
	bin      string
	keys     int
	size     int
	memory   int64
	disk     int64
	overhead int64
	conns    int
	steady   time.Duration
	every    time.Duration
	max      time.Duration
	env      string
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "", "edged binary (default: go build ./edge/cmd/edged into a temporary directory)")
	flag.IntVar(&o.keys, "keys", 1_000_000, "distinct keys sent in the keys phase")
	flag.IntVar(&o.size, "size", 1024, "body bytes of each object")
	flag.Int64Var(&o.memory, "memory", 256<<20, "memory tier budget in bytes (cache.memory)")
	flag.Int64Var(&o.disk, "disk", 1<<30, "disk tier budget in bytes (cache.disk)")
	flag.Int64Var(&o.overhead, "overhead", 0, "allowed RSS above the memory budget, bytes (0: memory/4, the bound edged states for itself)")
	flag.IntVar(&o.conns, "conns", 32, "concurrent client connections")
	flag.DurationVar(&o.steady, "steady", 0, "length of the steady-load phase (0: none)")
	flag.DurationVar(&o.every, "every", 10*time.Second, "RSS sampling interval")
	flag.DurationVar(&o.max, "max", 30*time.Minute, "hard bound on the whole run")
	flag.StringVar(&o.env, "env", "", "extra environment for edged, e.g. GOMEMLIMIT=400MiB")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	ctx, cancel := context.WithTimeout(context.Background(), o.max)
	defer cancel()
	dir, err := os.MkdirTemp("", "edged-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if o.bin == "" {
		o.bin = filepath.Join(dir, "edged")
		if out, err := exec.Command("go", "build", "-o", o.bin, "./edge/cmd/edged").CombinedOutput(); err != nil {
			return fmt.Errorf("go build (run from the module root): %v\n%s", err, out)
		}
	}
	originURL, stopOrigin, err := startOrigin(o.size)
	if err != nil {
		return err
	}
	defer stopOrigin()
	n, err := startNode(ctx, o, dir, originURL)
	if err != nil {
		return err
	}
	defer n.kill()

	fmt.Printf("edged pid %d: memory tier %s, disk tier %s, %d-byte objects, %d connections\n",
		n.cmd.Process.Pid, mib(o.memory), mib(o.disk), o.size, o.conns)
	stopSampler := make(chan struct{})
	defer close(stopSampler)
	go n.sampleAnon(stopSampler)
	l := newLoad(n.public, o.conns)
	start := time.Now()
	var next atomic.Int64
	keysErr := l.run(ctx, o.every, n, func() (int64, bool) {
		i := next.Add(1) - 1
		return i, i < int64(o.keys)
	})
	peak, peakAll := n.peakAnon.Load(), n.peakRSS()
	fmt.Printf("keys phase: %d keys in %v (%.0f req/s), %d errors\n", o.keys, time.Since(start).Round(time.Second),
		float64(o.keys)/time.Since(start).Seconds(), l.errors.Load())
	fmt.Printf("  node metrics: %s\n", n.storageMetrics())
	if o.overhead == 0 {
		// edged promises anonymous RSS within cache.memory + 25% (its
		// soft memory limit is + 12.5%, edge/cmd/edged/memlimit.go).
		o.overhead = o.memory / 4
	}
	limit := o.memory + o.overhead
	verdict := "within"
	if peak > limit {
		verdict = "OVER"
	}
	fmt.Printf("  peak anonymous RSS %s: %s budget %s + overhead %s = %s (peak - budget = %s)\n",
		mib(peak), verdict, mib(o.memory), mib(o.overhead), mib(limit), mib(peak-o.memory))
	fmt.Printf("  peak VmHWM %s (includes bbolt's mapped file pages, which the kernel can drop)\n", mib(peakAll))
	if keysErr != nil {
		return keysErr
	}
	if o.steady > 0 {
		if err := steady(ctx, o, n, l); err != nil {
			return err
		}
	}
	if peak > limit {
		return errors.New("peak RSS over budget plus overhead")
	}
	return nil
}

// steady runs a constant load for o.steady and reports RSS growth.
func steady(ctx context.Context, o options, n *node, l *load) error {
	sctx, cancel := context.WithTimeout(ctx, o.steady)
	defer cancel()
	fmt.Printf("steady phase: %v over %d keys\n", o.steady, 2*o.keys)
	var seq atomic.Uint64
	l.samples = nil
	err := l.run(sctx, o.every, n, func() (int64, bool) {
		// A multiplicative hash walks the key space in a scattered order.
		return int64(seq.Add(1) * 0x9E3779B97F4A7C15 % uint64(2*o.keys)), true
	})
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	s := l.samples
	if len(s) < 4 {
		fmt.Println("  too few samples for a trend; lengthen -steady or shorten -every")
		return nil
	}
	q := len(s) / 4
	first, last := avg(s[:q]), avg(s[len(s)-q:])
	fmt.Printf("  anonymous RSS first quarter %s, last quarter %s: growth %s (%+.1f%%)\n",
		mib(first), mib(last), mib(last-first), 100*float64(last-first)/float64(first))
	return nil
}

func avg(v []int64) int64 {
	var sum int64
	for _, x := range v {
		sum += x
	}
	return sum / int64(len(v))
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// startOrigin serves size bytes for every path, cacheable for a day.
func startOrigin(size int) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	body := bytes.Repeat([]byte("x"), size)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// node is the running edged.
type node struct {
	cmd           *exec.Cmd
	public, admin string
	proc          procstat.Reader
	peakAnon      atomic.Int64 // highest RssAnon seen by sampleAnon
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func startNode(ctx context.Context, o options, dir, originURL string) (*node, error) {
	public, err := freeAddr()
	if err != nil {
		return nil, err
	}
	admin, err := freeAddr()
	if err != nil {
		return nil, err
	}
	conf := fmt.Sprintf("listen: %s\nadmin: %s\ndata: %s\nlog:\n  level: warn\n  access: false\n"+
		"upstream:\n  origin: %s\ncache:\n  memory: %d\n  disk: %d\n",
		public, admin, filepath.Join(dir, "data"), originURL, o.memory, o.disk)
	path := filepath.Join(dir, "edged.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, o.bin, "-config", path)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if o.env != "" {
		cmd.Env = append(os.Environ(), strings.Fields(o.env)...)
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	n := &node{cmd: cmd, public: "http://" + public, admin: "http://" + admin}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(n.admin + "/healthz"); err == nil {
			resp.Body.Close()
			return n, nil
		}
		if time.Now().After(deadline) {
			n.kill()
			return nil, errors.New("edged did not answer /healthz in 30s")
		}
	}
}

func (n *node) kill() {
	_ = n.cmd.Process.Kill()
	_ = n.cmd.Wait()
}

// rssKinds are the fields of /proc/PID/status the soak reads: VmRSS is
// RssAnon (heap, stacks: what the budget is about) plus RssFile (mapped
// file pages: bbolt maps its whole file, pages the kernel can drop).
var rssKinds = regexp.MustCompile(`(?m)^(VmRSS|RssAnon|RssFile):\s+(\d+) kB`)

// rss returns the node's current resident set (VmRSS) and its anonymous
// and file-backed parts, bytes.
func (n *node) rss() (total, anon, file int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", n.cmd.Process.Pid))
	if err != nil {
		return 0, 0, 0
	}
	for _, m := range rssKinds.FindAllSubmatch(b, -1) {
		kb, _ := strconv.ParseInt(string(m[2]), 10, 64)
		switch string(m[1]) {
		case "VmRSS":
			total = kb << 10
		case "RssAnon":
			anon = kb << 10
		case "RssFile":
			file = kb << 10
		}
	}
	return total, anon, file
}

// sampleAnon records the peak anonymous RSS every 250ms until stop.
func (n *node) sampleAnon(stop <-chan struct{}) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if _, anon, _ := n.rss(); anon > n.peakAnon.Load() {
				n.peakAnon.Store(anon)
			}
		}
	}
}

// peakRSS returns the node's peak resident set (VmHWM), bytes.
func (n *node) peakRSS() int64 {
	u, err := n.proc.Sample(n.cmd.Process.Pid)
	if err != nil {
		return 0
	}
	return u.PeakRSS
}

var storageMetric = regexp.MustCompile(`(?m)^(edged_storage_(?:bytes|entries|evictions_total)\{tier="(?:memory|disk)"\}|go_memstats_heap_inuse_bytes|edged_storage_disk_writes_skipped_total) (\S+)$`)

// storageMetrics summarizes the node's storage and heap metrics.
func (n *node) storageMetrics() string {
	resp, err := http.Get(n.admin + "/metrics")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var parts []string
	for _, m := range storageMetric.FindAllSubmatch(b, -1) {
		parts = append(parts, fmt.Sprintf("%s=%s", m[1], m[2]))
	}
	return strings.Join(parts, " ")
}

// load sends GETs of /k/N over conns connections and samples RSS.
type load struct {
	base    string
	conns   int
	client  *http.Client
	sent    atomic.Int64
	errors  atomic.Int64
	samples []int64 // RSS at each sample of the last run
}

func newLoad(base string, conns int) *load {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
	return &load{base: base, conns: conns, client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// run sends requests for the keys next yields until it says stop or ctx
// ends, printing a progress line with the node's RSS every interval.
func (l *load) run(ctx context.Context, every time.Duration, n *node, next func() (int64, bool)) error {
	var wg sync.WaitGroup
	for range l.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				k, ok := next()
				if !ok {
					return
				}
				l.get(ctx, k)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(every)
	defer tick.Stop()
	start, last, lastSent := time.Now(), time.Now(), l.sent.Load()
	for {
		select {
		case <-done:
			return ctx.Err()
		case now := <-tick.C:
			sent := l.sent.Load()
			total, anon, file := n.rss()
			l.samples = append(l.samples, anon)
			fmt.Printf("  %6s  requests %9d  %7.0f req/s  RSS %s = anon %s + file %s  peak anon %s  errors %d\n",
				now.Sub(start).Round(time.Second), sent, float64(sent-lastSent)/now.Sub(last).Seconds(),
				mib(total), mib(anon), mib(file), mib(n.peakAnon.Load()), l.errors.Load())
			last, lastSent = now, sent
		}
	}
}

func (l *load) get(ctx context.Context, k int64) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.base+"/k/"+strconv.FormatInt(k, 10), nil)
	if err != nil {
		l.errors.Add(1)
		return
	}
	req.Host = "soak.example"
	resp, err := l.client.Do(req)
	l.sent.Add(1)
	if err != nil {
		if ctx.Err() == nil {
			l.errors.Add(1)
		}
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		l.errors.Add(1)
	}
}
