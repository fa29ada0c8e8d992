//go:build unix

package main

import (
	"context"
	"strings"
	"testing"
)

// A second demo on the same data directory is refused even before the
// ports are checked.
func TestRunRefusesSecondDemo(t *testing.T) {
	data := t.TempDir()
	unlock, err := lockData(data)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	err = run(context.Background(), data, nil)
	if err == nil || !strings.Contains(err.Error(), "another demo is running on "+data) {
		t.Fatalf("run = %v, want another demo named", err)
	}
	unlock()
	again, err := lockData(data)
	if err != nil {
		t.Fatalf("lock after the first demo stopped: %v", err)
	}
	again()
}
