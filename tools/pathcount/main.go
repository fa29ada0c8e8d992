// Command pathcount reports which files and functions of package edge one
// cache hit and one cache miss execute: a measure of how spread out a
// request's path is (issue #13), to compare before and after a change.
//
//	go run ./tools/pathcount          (or: make pathcount)
//
// It builds itself with -cover -covermode=atomic -coverpkg=edged/edge and
// runs that build as a probe: the probe serves a real edge.Handler on a
// loopback listener, primes one object, then for the hit and for the miss
// clears the coverage counters, serves exactly one request, waits until no
// goroutine runs code of package edge any more (so a fill that outlives its
// response is counted), and writes the counters. go tool covdata func then
// says which functions ran; a function counts when any of its statements
// ran. The probe must be a program, not a test: a test binary writes its
// coverage meta-data only at exit, and runtime/coverage refuses to clear or
// write counters before.
//
// The handler runs with the options a test edge has (no router, no
// compression, no access log; metrics registered), so the numbers are the
// core path; the body is small and stored in the memory tier. The
// listener-level framing check the binary puts in front of the handler is
// not counted: it runs before any handler and is no longer in package edge.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"edged/internal/buildinfo"
)

const (
	pkg  = "edged/edge"            // the package measured
	self = "edged/tools/pathcount" // also instrumented: the runtime sets coverage up from the main package's init
)

func main() {
	probeDir := flag.String("probe", "", "run as the probe, writing coverage data under `dir` (used by pathcount itself)")
	keep := flag.Bool("keep", false, "keep the coverage data and print where it is")
	version := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *version {
		fmt.Println(buildinfo.Read().Line("pathcount"))
		return
	}
	if *probeDir != "" {
		if err := probe(*probeDir); err != nil {
			fmt.Fprintln(os.Stderr, "pathcount probe:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Stdout, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "pathcount:", err)
		os.Exit(1)
	}
}

// run builds the probe, runs it and prints the report.
func run(out io.Writer, keep bool) error {
	tmp, err := os.MkdirTemp("", "pathcount-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Fprintln(out, "coverage data kept in", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	bin := filepath.Join(tmp, "probe")
	build := exec.Command("go", "build", "-cover", "-covermode=atomic", "-coverpkg="+pkg+","+self, "-o", bin, self)
	if b, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, b)
	}
	data := filepath.Join(tmp, "data")
	cmd := exec.Command(bin, "-probe", data)
	// GOCOVERDIR takes the data the probe writes at exit, which the
	// report does not read; it only keeps the runtime from warning.
	cmd.Env = append(os.Environ(), "GOCOVERDIR="+tmp)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("probe: %w\n%s", err, b)
	}
	for _, what := range []string{"hit", "miss"} {
		funcs, err := touched(filepath.Join(data, what))
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		report(out, what, funcs)
	}
	return nil
}

// fn is one function of package edge that ran.
type fn struct {
	file, name string
}

// touched returns the functions of pkg with at least one statement run in
// the coverage data in dir.
func touched(dir string) ([]fn, error) {
	var stderr bytes.Buffer
	cmd := exec.Command("go", "tool", "covdata", "func", "-i="+dir, "-pkg="+pkg)
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go tool covdata func: %w\n%s", err, stderr.Bytes())
	}
	funcs := ran(b)
	if len(funcs) == 0 {
		return nil, fmt.Errorf("no function of %s ran: was the probe built with -coverpkg=%s?", pkg, pkg)
	}
	return funcs, nil
}

// ran parses the output of go tool covdata func, lines of
// "path/file.go:line:  name  pct%", into the functions of pkg whose
// percentage is not zero.
func ran(covdata []byte) []fn {
	var funcs []fn
	for _, line := range strings.Split(string(covdata), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || !strings.HasSuffix(f[0], ":") || f[len(f)-1] == "0.0%" {
			continue // the "total" line, or a function that did not run
		}
		file, _, _ := strings.Cut(f[0], ":")
		if path.Dir(file) != pkg {
			continue
		}
		funcs = append(funcs, fn{file: path.Base(file), name: f[1]})
	}
	return funcs
}

// report prints "what: N files, M functions" and the functions by file.
func report(out io.Writer, what string, funcs []fn) {
	byFile := map[string][]string{}
	for _, f := range funcs {
		byFile[f.file] = append(byFile[f.file], f.name)
	}
	files := make([]string, 0, len(byFile))
	for f := range byFile {
		files = append(files, f)
	}
	sort.Strings(files)
	fmt.Fprintf(out, "%s: %d files, %d functions\n", what, len(files), len(funcs))
	for _, f := range files {
		fmt.Fprintf(out, "  %-20s %s\n", f, strings.Join(byFile[f], ", "))
	}
}
