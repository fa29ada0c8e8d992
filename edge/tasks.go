package edge

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// tasks tracks the work a Handler started that outlives the request that
// started it, so that Close can wait for it and say what did not end:
// goroutines (an upstream fetch runs detached from its clients, a
// background revalidation after its response was served) and waits (a
// response too large to store, held for its leader for a while).
type tasks struct {
	mu      sync.Mutex // guards running and idle
	running map[*task]struct{}
	idle    chan struct{} // closed once running is empty; made by a waiter
}

// The kinds of task, as Close names them.
const (
	taskFetch   = "upstream fetch"
	taskRefresh = "background refresh"
	taskHeld    = "response held for its leader"
)

// task is one tracked piece of work.
type task struct {
	kind  string // what it is, for Close's report
	key   string // the cache key it is for
	start time.Time
	// stop ends the task at once when the Handler closes (nil: Close waits
	// for it). It must be safe to call after the task ended.
	stop func()
}

// add starts tracking a task; done must be called once it ends.
func (ts *tasks) add(kind, key string, stop func()) *task {
	t := &task{kind: kind, key: key, start: time.Now(), stop: stop}
	ts.mu.Lock()
	if ts.running == nil {
		ts.running = make(map[*task]struct{})
	}
	ts.running[t] = struct{}{}
	ts.mu.Unlock()
	return t
}

// done stops tracking t; later calls do nothing.
func (ts *tasks) done(t *task) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if _, ok := ts.running[t]; !ok {
		return
	}
	delete(ts.running, t)
	if len(ts.running) == 0 && ts.idle != nil {
		close(ts.idle)
		ts.idle = nil
	}
}

// start runs fn in a goroutine tracked as a task.
func (ts *tasks) start(kind, key string, fn func()) {
	t := ts.add(kind, key, nil)
	go func() {
		defer ts.done(t)
		fn()
	}()
}

// wait stops the tasks that can be stopped, then waits until none is
// running or ctx ends; then it returns an error naming each task still
// running. Tasks may be added while it waits: it waits for them too.
func (ts *tasks) wait(ctx context.Context) error {
	ts.mu.Lock()
	var stops []func()
	for t := range ts.running {
		if t.stop != nil {
			stops = append(stops, t.stop)
		}
	}
	ts.mu.Unlock()
	for _, stop := range stops {
		stop() // outside the lock: a stop ends its task through done
	}
	for {
		ts.mu.Lock()
		if len(ts.running) == 0 {
			ts.mu.Unlock()
			return nil
		}
		if ts.idle == nil {
			ts.idle = make(chan struct{})
		}
		idle := ts.idle
		ts.mu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			return ts.unfinished(ctx.Err())
		}
	}
}

// unfinished is the error that names the tasks still running.
func (ts *tasks) unfinished(cause error) error {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.running) == 0 {
		return nil
	}
	now := time.Now()
	lines := make([]string, 0, len(ts.running))
	for t := range ts.running {
		lines = append(lines, fmt.Sprintf("%s of %q (running %v)", t.kind, t.key, now.Sub(t.start).Round(time.Millisecond)))
	}
	sort.Strings(lines)
	return fmt.Errorf("edge: %d tasks had not finished: %s: %w", len(lines), strings.Join(lines, "; "), cause)
}
