// Package logtest holds what tests need to read output that the code under
// test writes from other goroutines: a log handler, an access log writer, a
// child process's stdout. It is imported by tests only.
package logtest

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

// Buffer is a bytes.Buffer safe for writers on other goroutines and a test
// reading it. The zero value is ready to use.
type Buffer struct {
	mu     sync.Mutex // guards buf and writes
	buf    bytes.Buffer
	writes int
}

// Write appends p; it never fails.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.writes++
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Writes returns how many times Write was called.
func (b *Buffer) Writes() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.writes
}

// Lines decodes the JSON log lines written so far (slog.JSONHandler's
// output) and returns those whose msg is msg, or all of them when msg is
// "". A line that is not JSON fails the test.
func (b *Buffer) Lines(t testing.TB, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(b.String(), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if msg == "" || m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// WaitLines waits until at least n JSON log lines with msg were written
// and returns them; it fails the test after 20s, a bound meant to be
// reached only when the line never comes.
func (b *Buffer) WaitLines(t testing.TB, msg string, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if l := b.Lines(t, msg); len(l) >= n {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d %q log lines after 20s", n, msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
