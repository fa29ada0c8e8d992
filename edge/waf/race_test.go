//go:build race

package waf

// raceEnabled: the race detector makes Coraza some ten times slower, so the
// corpus tests take a sample.
const raceEnabled = true
