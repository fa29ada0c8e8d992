package rules

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
	_ "time/tzdata" // zones for the window tests, whatever the host has
)

func newEngine(tb testing.TB, o Options) *Engine {
	tb.Helper()
	e, err := New(o, nil)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() { e.Close() })
	return e
}

// writeList writes a list file in a fresh temp dir and returns its path.
func writeList(tb testing.TB, dir, name, content string) string {
	tb.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func mustLoc(tb testing.TB, name string) *time.Location {
	tb.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		tb.Fatal(err)
	}
	return loc
}

// monday10 is Monday 2026-01-05 10:00 UTC.
var monday10 = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
