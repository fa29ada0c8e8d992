package edge

import (
	"runtime"
	"strings"
	"testing"
)

// goroutineID is the running goroutine's number, from its stack header
// ("goroutine 17 [running]:").
func goroutineID() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	return strings.Fields(string(buf))[1]
}

// goroutineLive reports whether goroutine id still exists.
func goroutineLive(id string) bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Contains(string(buf), "goroutine "+id+" [")
}

// A task starts in the goroutine of one that ended, when one waits: a new
// goroutine's stack grows by copies to an upstream fetch's depth on every
// miss (#17). Retire ends the waiting goroutines.
func TestTasksReuseGoroutines(t *testing.T) {
	var ts tasks
	ran := make(chan string)
	seen := map[string]bool{}
	reused := ""
	// A start that finds no goroutine waiting yet makes a new one; once
	// the first has parked, the next start is handed to a waiting one.
	waitFor(t, func() bool {
		ts.start(taskFetch, "k", func() { ran <- goroutineID() })
		id := <-ran
		if seen[id] {
			reused = id
			return true
		}
		seen[id] = true
		return false
	})
	// A task sends its id before it is marked done.
	waitFor(t, func() bool { return ts.count(taskFetch) == 0 })
	ts.retire()
	for id := range seen {
		waitFor(t, func() bool { return !goroutineLive(id) })
	}
	t.Logf("goroutine %s ran two tasks; %d goroutines retired", reused, len(seen))
	// After retire, tasks still run, each in a goroutine of its own.
	ts.start(taskFetch, "k", func() { ran <- goroutineID() })
	if id := <-ran; seen[id] {
		t.Errorf("a task started after retire ran in retired goroutine %s", id)
	}
}
