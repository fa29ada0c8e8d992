// Package buildinfo says which build a program of edged is: its version,
// VCS revision and Go version, read from the toolchain's stamp
// (runtime/debug.ReadBuildInfo), so no -ldflags step is needed. Every
// binary's -version prints it, and edged exports it as edged_build_info.
//
// It imports nothing else of ours (docs/design.md: internal/).
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Info is what a binary knows of how it was built.
type Info struct {
	Version   string // the module version ("(devel)" for a build from a checkout); "unknown" without a stamp
	Revision  string // the VCS commit, with "+dirty" when the tree had changes; "unknown" without VCS
	GoVersion string
}

// Read reads the toolchain's stamp; a binary without one (a test binary,
// go run of a file list) still answers, with "unknown".
func Read() Info {
	b := Info{Version: "unknown", Revision: "unknown", GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if bi.Main.Version != "" {
		b.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		b.GoVersion = bi.GoVersion
	}
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if modified && b.Revision != "unknown" {
		b.Revision += "+dirty"
	}
	return b
}

// Line is the -version line of the program name: "name version (revision
// R, goX.Y.Z)".
func (b Info) Line(name string) string {
	return fmt.Sprintf("%s %s (revision %s, %s)", name, b.Version, b.Revision, b.GoVersion)
}
