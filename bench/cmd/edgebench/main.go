// Command edgebench runs edged side by side with the test origin, a
// minimal Go server (the ceiling), nginx proxy_cache and Varnish, on
// loopback, and writes a markdown report and an SVG chart.
//
//	go run ./bench/cmd/edgebench                 # full run (make bench)
//	BENCH_QUICK=1 go run ./bench/cmd/edgebench   # quick run (make bench-quick)
//
// Everything it starts runs on 127.0.0.1 in a temporary directory and is
// stopped when it ends, fails or is interrupted (Ctrl-C). See
// bench/README.md for how to read the report.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"edged/bench/report"
)

// options are the command-line flags.
type options struct {
	quick     bool
	out       string
	reps      int
	duration  time.Duration
	objects   int
	loadgen   string
	install   bool
	bin       string
	only      string
	purgeYAML string
	token     string
	purges    int
	keep      bool
	profile   bool
	sizes     string
	base      string
	targets   string
}

func parseFlags(args []string) (options, error) {
	quick := os.Getenv("BENCH_QUICK") != "" && os.Getenv("BENCH_QUICK") != "0"
	fs := flag.NewFlagSet("edgebench", flag.ContinueOnError)
	o := options{}
	fs.BoolVar(&o.quick, "quick", quick, "quick mode (default from BENCH_QUICK=1): shorter runs, fewer objects")
	fs.StringVar(&o.out, "out", "bench/results", "`directory` for latest.md and latest.svg")
	fs.IntVar(&o.reps, "reps", 0, "repetitions per target and scenario (0: 3, quick 2)")
	fs.DurationVar(&o.duration, "duration", 0, "length of one load run (0: 3s, quick 1s)")
	fs.IntVar(&o.objects, "objects", 0, "objects on disk for the restart scenario (0: 1000000, quick 20000)")
	fs.StringVar(&o.loadgen, "loadgen", "auto", "load generator for throughput runs: auto (wrk when present), wrk or go")
	fs.BoolVar(&o.install, "install", true, "install nginx, varnish, wrk and squid with apt-get when missing and running as root")
	fs.StringVar(&o.bin, "bin", "", "`directory` holding edged and benchorigin already built (default: build them)")
	fs.BoolVar(&o.profile, "profile", true, "take a CPU profile of edged (memory hits, 1 KiB and 100 KiB at 64 conns; misses at 1 conn) and put its top lines in the report")
	fs.StringVar(&o.only, "only", "", "comma-separated scenarios to run: hits,zipf,miss,cold,purge,purge-cluster,restart,forward (default all)")
	fs.StringVar(&o.sizes, "sizes", "1,100,1024", "comma-separated body sizes in KiB of the hit scenarios")
	fs.StringVar(&o.base, "base", "", "`directory` holding a baseline edged binary: adds its mem, disk, waf and zipf targets beside the current ones, and its own purge fleets whose rounds alternate with the current ones (old vs new in one run)")
	fs.StringVar(&o.targets, "targets", "", "comma-separated targets of the hit and zipf tables to measure, by name (\"edged waf,edged waf base\"); the others are listed as skipped (default all)")
	fs.StringVar(&o.purgeYAML, "purge-yaml", "", "`file` of YAML appended to each purge node's config; {{NODE}} becomes 0, 1, 2 and {{NATS}} node 0's NATS address")
	fs.StringVar(&o.token, "purge-token", "edgebench", "bearer token for POST /purge")
	fs.IntVar(&o.purges, "purges", 0, "purges timed per purge scenario (0: 1000, quick 20)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (configs, logs) for inspection")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.reps <= 0 {
		o.reps = pick(o.quick, 2, 3)
	}
	if o.duration <= 0 {
		o.duration = pick(o.quick, time.Second, 3*time.Second)
	}
	if o.purges <= 0 {
		o.purges = pick(o.quick, 20, 1000)
	}
	if o.objects <= 0 {
		o.objects = pick(o.quick, 20_000, 1_000_000)
	}
	switch o.loadgen {
	case "auto", "wrk", "go":
	default:
		return o, fmt.Errorf("-loadgen: want auto, wrk or go, got %q", o.loadgen)
	}
	return o, nil
}

func pick[T any](quick bool, q, full T) T {
	if quick {
		return q
	}
	return full
}

// wants reports whether scenario s is selected by -only.
func (o options) wants(s string) bool { return listed(o.only, s) }

// wantsTarget reports whether the target named name is selected by
// -targets.
func (o options) wantsTarget(name string) bool { return listed(o.targets, name) }

// listed reports whether the comma-separated list holds name; an empty
// list holds every name.
func listed(list, name string) bool {
	if list == "" {
		return true
	}
	for _, x := range strings.Split(list, ",") {
		if strings.TrimSpace(x) == name {
			return true
		}
	}
	return false
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "edgebench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = run(ctx, o)
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "edgebench: interrupted; everything started was stopped")
		os.Exit(130)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "edgebench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	start := time.Now()
	dir, err := os.MkdirTemp("", "edgebench-")
	if err != nil {
		return err
	}
	// varnishd and nginx workers drop privileges: they must reach the dir.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	if o.keep {
		logf("temporary files kept in %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	tools := findTools(ctx, o)
	bins, err := buildBinaries(ctx, o, dir)
	if err != nil {
		return err
	}
	b := &bench{o: o, dir: dir, tools: tools, bins: bins}
	defer b.stopAll()
	if err := b.startFleet(ctx); err != nil {
		return err
	}
	rep, err := b.runScenarios(ctx)
	if err != nil {
		return err
	}
	rep.Machine = machine(ctx, o, tools, b.loadgenName())
	md := rep.Markdown()
	fmt.Print(md)
	if err := writeResults(o.out, md, rep.SVG()); err != nil {
		return err
	}
	if filepath.Clean(o.out) == filepath.Join("bench", "results") {
		// The committed run: the README's table follows it.
		if err := updateReadme("README.md", md); err != nil {
			return err
		}
	}
	printMisses(rep)
	logf("done in %v; results in %s", time.Since(start).Round(time.Second), filepath.Join(o.out, "latest.md"))
	return nil
}

func writeResults(dir, md, svg string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "latest.md"), []byte(md), 0o644); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "latest.svg"), []byte(svg), 0o644); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	return nil
}

// updateReadme rewrites the README's benchmark table from the run's
// markdown (bench/report.ReadmeTable).
func updateReadme(path, md string) error {
	readme, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("README table: %w", err)
	}
	table, err := report.ReadmeTable(md)
	if err != nil {
		return err
	}
	out, err := report.SpliceReadme(string(readme), table)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		return fmt.Errorf("README table: %w", err)
	}
	return nil
}

// logf prints progress on stderr, so stdout stays the markdown table.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "edgebench: "+format+"\n", args...)
}
