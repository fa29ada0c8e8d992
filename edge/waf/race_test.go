//go:build race

package waf

// raceEnabled: the race detector makes Coraza some ten times slower, so the
// corpus tests take a small sample.
const raceEnabled = true
