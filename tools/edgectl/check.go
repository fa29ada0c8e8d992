package main

import (
	"fmt"
	"io"
	"strings"

	"edged/edge/config"
)

// configCheck is `edgectl config check FILE...`: the check `edged -t` runs
// (the file's fields and values, and the certificate, key and secret files
// it names), every problem at once, one per line with its line and field,
// and the configuration's own warnings (config.Config.Warnings).
//
// edgectl imports edge/config for it: edge/config is a public package of
// edge with a documented contract (its package doc), not an edge internal,
// so docs/design.md's rule for tools ("never edge internals") allows it,
// and a CI host without the edged binary can still check a file.
// tools/edgectl/imports_test.go holds the line: no edged/edge/internal.
func configCheck(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprint(stderr, "usage: edgectl config check FILE...\n")
		return exitUsage
	}
	files := args[1:]
	if len(files) == 0 {
		fmt.Fprint(stderr, "usage: edgectl config check FILE...\n")
		return exitUsage
	}
	code := exitOK
	for _, file := range files {
		cfg, err := checkFile(file)
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				fmt.Fprintln(stderr, "edgectl config check: "+line)
			}
			code = exitFail
			continue
		}
		// The configuration's own warnings, as edged -t prints them. Those
		// that depend on a node's environment (its purge token, its purge
		// bus, certificates on disk) only edged -t can judge.
		for _, w := range cfg.Warnings() {
			fmt.Fprintln(stderr, "edgectl config check: warning: "+w.Error())
		}
		fmt.Fprintf(stdout, "%s: configuration OK\n", file)
	}
	return code
}

// checkFile is what edged -t does without flags: Load keeps a Config when
// only fields are bad, and Check reports those again with every other
// problem.
func checkFile(file string) (*config.Config, error) {
	cfg, err := config.Load(file)
	if cfg == nil {
		return nil, err
	}
	return cfg, cfg.Check()
}
