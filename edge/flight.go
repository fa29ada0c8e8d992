package edge

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"edged/edge/clientip"
	"edged/storage"
)

// flight is one shared upstream fetch in progress. Its result is complete
// when done is closed; body publishes the response body as it arrives, so
// that a range request need not wait for the whole object.
type flight struct {
	done chan struct{} // closed once res is set
	res  *fillResult
	body *progress
	// gen is the store's purge generation (flights.generation) read
	// before the flight started: its fetch began no earlier, so a request
	// that read a newer one may be asking after a purge the fetch predates.
	// Guarded by flights.mu: a join that finds no purge since covers the
	// object moves it to the generation it read.
	gen uint64
}

// flights collapses concurrent fetches of one key into one flight: the
// equivalent of x/sync/singleflight, plus the body in progress.
//
// A request looks the store up before it joins a flight, and the flight it
// would have joined can end in between: a miss that waited for a CPU while
// the flight stored its response (1000 clients of one cold key on 2 cores,
// #17) then found no flight and fetched the object again. So flights
// count the flights that end (ended, read by seen before the lookup), and
// join starts none for a request that looked before a flight of the same
// storage key ended: that flight's response is readable by then (a
// flight's fill stores it before the flight ends, and storage.Store.Set
// promises read-your-writes), and the request looks again.
//
// A request never joins a flight that started before a purge the request
// came after: the purge's answer promises that nothing fetched before it
// is served, and the flight's response may predate it (the store keeps it
// stale, storage.Store.SetFetchedAt, but its waiters are handed it
// directly). Each flight records the store's purge generation, which
// every purge (URL, prefix, tag, host or all; hard or soft; the purge
// bus's early Hide too) moves as it begins; a request that reads a newer
// one starts a flight of its own for the key, and the old flight finishes
// for those that joined it before, unless none of the purges since the
// flight began can cover the key's object (storage.Store.PurgedSince): a
// purge of another URL or host leaves it joinable. Which tags a fill's
// response carries is not known until it arrives, so a tag purge (or one
// of everything) counts for every flight then in progress.
type flights struct {
	tasks *tasks     // tracks each flight's goroutine
	mu    sync.Mutex // guards m, ends and seed
	m     map[string]*flight
	// ended counts the flights that have ended; ends holds, per shard of
	// storage keys, its value when the shard's last flight ended. Both
	// change under mu as a flight leaves m, so a join that finds no
	// flight sees the end of every earlier one.
	ended atomic.Uint64
	ends  [flightShards]uint64
	seed  maphash.Seed // of the shards; made with m

	// generation returns the store's purge generation
	// (storage.Store.Generation); nil: purges are not tracked.
	generation func() uint64
	// purgedSince reports whether a purge since a generation may cover
	// storeKey's object (storage.Store.PurgedSince); nil: any purge may.
	// It may walk thousands of purges: called without mu.
	purgedSince func(storeKey string, since uint64) bool

	// beforeJoin, when set, runs as join starts (tests: to hold a request
	// between its lookup and its join).
	beforeJoin atomic.Pointer[func()]
}

// flightShards is how many shards of storage keys flights tell apart when
// they record ends: a flight ending in another shard makes no request look
// again; one in the same shard (another key, rarely) costs a second lookup.
const flightShards = 256

// anyEnd, as join's since, starts a flight whatever ended before.
const anyEnd = math.MaxUint64

// seen returns the flights' ends so far: a request passes it to join as
// since, having read it before its lookup.
func (fs *flights) seen() uint64 { return fs.ended.Load() }

// shard is storeKey's index in ends. fs.mu must be held, and seed made.
func (fs *flights) shard(storeKey string) int {
	return int(maphash.String(fs.seed, storeKey) % flightShards)
}

// join returns the flight for key, starting one that runs fill when none is
// in progress; leader reports whether this call started it. The flight runs
// in its own goroutine, so no caller's disconnect can cancel it; it is
// tracked as an upstream fetch of storeKey (key may hold credentials).
//
// since is what seen returned before the caller looked storeKey up. When
// no flight of key is running and one of storeKey's shard ended after
// since, join starts nothing and returns a nil f: what that flight stored
// may answer the request, and the caller looks again.
//
// A flight of key that started before a purge this call sees (a purge
// generation newer than the flight's) counts as none: it goes on for the
// requests that joined it, and key's next joiners join the new one.
func (fs *flights) join(key, storeKey string, since uint64, fill func(*progress) *fillResult) (f *flight, leader bool) {
	if hook := fs.beforeJoin.Load(); hook != nil {
		(*hook)()
	}
	var gen uint64
	if fs.generation != nil {
		// Read before the flight is started, so its fetch begins at this
		// generation or a later one (fetch.run reads its own).
		gen = fs.generation()
	}
	fs.mu.Lock()
	cur, ok := fs.m[key]
	if ok && cur.gen < gen && fs.purgedSince != nil {
		// Purges began since the flight did. Whether one may cover the
		// object walks them (up to 4096: storage.Store.PurgedSince), so
		// it is asked without mu, which every join of every key takes.
		// If none does, the flight, if it still runs, is as good as one
		// begun at gen, and the next joiner checks only the purges after.
		// (Replaced meanwhile by a flight older than gen: a flight is
		// started, as if it had covered.)
		began := cur.gen
		fs.mu.Unlock()
		clean := !fs.purgedSince(storeKey, began)
		fs.mu.Lock()
		if clean && fs.m[key] == cur {
			cur.gen = max(cur.gen, gen)
		}
		cur, ok = fs.m[key]
	}
	if ok && cur.gen >= gen {
		fs.mu.Unlock()
		return cur, false
	}
	if fs.m == nil {
		fs.m, fs.seed = make(map[string]*flight), maphash.MakeSeed()
	}
	if since != anyEnd && fs.ends[fs.shard(storeKey)] > since {
		fs.mu.Unlock()
		return nil, false
	}
	// fl, not the result f: a named result the goroutine captured would
	// be moved to the heap, an allocation per miss.
	fl := &flight{done: make(chan struct{}), body: newProgress(), gen: gen}
	fs.m[key] = fl // replaces a flight that predates a purge, if any
	fs.mu.Unlock()
	fs.tasks.start(taskFetch, storeKey, func() {
		res := fill(fl.body)
		fl.body.end(res.entry == nil || !res.stored)
		fs.mu.Lock()
		if fs.m[key] == fl { // not replaced by a flight started after a purge
			delete(fs.m, key)
		}
		fs.ends[fs.shard(storeKey)] = fs.ended.Add(1)
		fs.mu.Unlock()
		fl.res = res
		close(fl.done)
	})
	return fl, true
}

// fillResult is the outcome of one shared upstream fetch.
type fillResult struct {
	entry     *storage.Entry // complete response (stored or not); nil on error or stream
	shared    bool           // entry may be served to every waiter
	stored    bool
	ttl       time.Duration // remaining freshness of a stored entry
	reason    string        // why it was not stored (Cache-Status detail)
	varyNames []string      // the stored response's Vary, for waiters to match
	// own: fields only for the request that caused the fetch, never
	// stored nor given to waiters: policy.OwnHeader of a fetched response,
	// policy.NotModifiedOwnHeader of a 304 that refreshed the stored one.
	own       http.Header
	status    int // upstream status; 0 when err is set
	err       error
	upstream  string        // the server that answered; "" when none did
	firstByte time.Duration // how soon its response header came

	// stream is a response too large to store: its first bytes were read
	// into prefix. Only the leader may take it (claim); until it does, the
	// stream is held for it (holdForLeader).
	stream  *http.Response
	prefix  []byte
	claimed atomic.Bool
	// unbind lifts the fetch's total bound (fetchContext) once its body
	// is streamed to a client.
	unbind func()

	mu      sync.Mutex  // guards abandon and waiting
	abandon *time.Timer // closes the stream no leader took
	waiting *task       // the wait for the leader, for Close
	tasks   *tasks
}

// leaderWait is how long a stream is held for a leader that has not taken
// it: the leader may have left already, and nobody else may read it.
const leaderWait = 10 * time.Second

// holdForLeader closes the stream unless the leader takes it within
// leaderWait, or when the Handler closes (ts is the Handler's tasks).
func (res *fillResult) holdForLeader(ts *tasks, key string) {
	abandon := func() { res.release(true) }
	res.mu.Lock()
	defer res.mu.Unlock()
	res.tasks = ts
	res.waiting = ts.add(taskHeld, key, abandon)
	res.abandon = time.AfterFunc(leaderWait, abandon)
}

// claim hands the stream to its one reader, and ends the wait for it; it
// reports false after the first call.
func (res *fillResult) claim() bool {
	if res.stream == nil || !res.claimed.CompareAndSwap(false, true) {
		return false
	}
	res.mu.Lock()
	defer res.mu.Unlock()
	if res.abandon != nil {
		res.abandon.Stop()
		res.tasks.done(res.waiting)
	}
	return true
}

// release closes the stream when the leader will not read it.
func (res *fillResult) release(leader bool) {
	if leader && res.claim() {
		res.stream.Body.Close()
	}
}

// failureStatus is the status a failed fetch stands for.
func (res *fillResult) failureStatus() int {
	if res.err == nil {
		return res.status
	}
	return upstreamErrorStatus(res.err)
}

// tasks tracks the work a Handler started that outlives the request that
// started it, so that Close can wait for it and say what did not end:
// goroutines (an upstream fetch runs detached from its clients, a
// background revalidation after its response was served) and waits (a
// response too large to store, held for its leader for a while).
type tasks struct {
	mu      sync.Mutex // guards running, changed and the making of work and retired
	running map[*task]struct{}
	changed chan struct{} // closed when a task starts or ends; made by a waiter

	// work hands a started task to a goroutine of an earlier one, parked
	// for workerIdle (see start); retired is closed by retire. Both are
	// made by the first start.
	work    chan *task
	retired chan struct{}
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
	stop     func()
	stopping bool // stop was called; guarded by tasks.mu
	// run is the work of a task start runs in a goroutine (nil for a
	// wait); set before the task is handed to one, read only by it.
	run func()
}

// add starts tracking a task; done must be called once it ends.
func (ts *tasks) add(kind, key string, stop func()) *task {
	t := &task{kind: kind, key: key, start: time.Now(), stop: stop}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.running == nil {
		ts.running = make(map[*task]struct{})
	}
	ts.makeWork()
	ts.running[t] = struct{}{}
	ts.signal()
	return t
}

// done stops tracking t; later calls do nothing.
func (ts *tasks) done(t *task) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if _, ok := ts.running[t]; ok {
		delete(ts.running, t)
		ts.signal()
	}
}

// signal wakes the waiters. ts.mu must be held.
func (ts *tasks) signal() {
	if ts.changed != nil {
		close(ts.changed)
		ts.changed = nil
	}
}

// workerIdle is how long the goroutine of a task that ended waits for the
// next task before it exits.
const workerIdle = 10 * time.Second

// start runs fn in a goroutine tracked as a task: the goroutine of a task
// that ended and waits for another, or a new one. An upstream fetch runs
// deep (net/http's transport, the origin client, the store) and a new
// goroutine's stack grows to it by copies each time: 5% of the node's CPU
// with one miss in flight (#17). A goroutine kept for the next task keeps
// its stack.
func (ts *tasks) start(kind, key string, fn func()) {
	t := ts.add(kind, key, nil)
	t.run = fn // the task carries it: no closure of its own to hand over (#17)
	select {
	case ts.work <- t: // a parked goroutine runs it
	default:
		go ts.worker(t)
	}
}

// worker runs t, then the tasks handed to it while it waits, until none
// comes for workerIdle or the tasks are retired.
func (ts *tasks) worker(t *task) {
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		ts.runTask(t)
		t = nil // what the task held (a fetch's body) is not kept while waiting
		idle.Reset(workerIdle)
		select {
		case t = <-ts.work:
		case <-idle.C:
			return
		case <-ts.retired:
			return
		}
	}
}

// runTask runs t's work and stops tracking it.
func (ts *tasks) runTask(t *task) {
	defer ts.done(t)
	t.run()
}

// retire ends the goroutines waiting for tasks, and each running one once
// its task ends; tasks started later run in goroutines of their own.
func (ts *tasks) retire() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.makeWork()
	select {
	case <-ts.retired:
	default:
		close(ts.retired)
	}
}

// makeWork makes work and retired if they are not made yet. ts.mu must be
// held; they never change once made, so start and worker read them
// without it (after an add or a retire that made them).
func (ts *tasks) makeWork() {
	if ts.work == nil {
		ts.work, ts.retired = make(chan *task), make(chan struct{})
	}
}

// wait waits until no task is running or ctx ends, stopping each task that
// can be stopped, those that start while it waits included; when ctx ends
// first, it returns an error naming each task still running.
func (ts *tasks) wait(ctx context.Context) error {
	for {
		ts.mu.Lock()
		if len(ts.running) == 0 {
			ts.mu.Unlock()
			return nil
		}
		var stops []func()
		for t := range ts.running {
			if t.stop != nil && !t.stopping {
				t.stopping = true
				stops = append(stops, t.stop)
			}
		}
		if ts.changed == nil {
			ts.changed = make(chan struct{})
		}
		changed := ts.changed
		ts.mu.Unlock()
		for _, stop := range stops {
			stop() // outside the lock: a stop ends its task through done
		}
		select {
		case <-changed:
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

// defaultFillsPerClient bounds the upstream fetches one client may have
// started and not finished. A fetch outlives its client (a disconnect must
// not cancel what others wait for), so without a bound one connection that
// opens and resets streams for distinct URLs (HTTP/2 rapid reset) could start
// thousands of origin fetches. A page load's burst of misses waits for a slot
// instead of failing.
const defaultFillsPerClient = 32

// fillSlots hands out the per-client fetch slots. Waiting happens in the
// client's own request, so a client that goes away stops waiting and starts
// nothing.
type fillSlots struct {
	perClient int // < 0: unlimited

	mu      sync.Mutex // guards clients and spare
	clients map[netip.Addr]*clientSlots
	// spare is the last client's slots that nobody held or waited for
	// any more, kept for the next client that has none: a client whose
	// misses come one at a time would otherwise make them (two
	// allocations) for each (#17). Nothing refers to them once their
	// users are 0.
	spare *clientSlots
}

type clientSlots struct {
	ch    chan struct{}
	users int // requests holding or waiting for a slot
}

// acquire waits for one of client's slots; release gives it back. ok is
// false when ctx ended first.
func (fs *fillSlots) acquire(ctx context.Context, client netip.Addr) (release func(), ok bool) {
	return fs.take(client, true, ctx.Done())
}

// tryAcquire takes a slot only if one is free at once (background work
// never waits).
func (fs *fillSlots) tryAcquire(client netip.Addr) (release func(), ok bool) {
	return fs.take(client, false, nil)
}

// take takes one of client's slots, waiting for one until giveUp is closed
// if wait is set. An IPv6 client is counted by its /64 (clientip.Network).
func (fs *fillSlots) take(client netip.Addr, wait bool, giveUp <-chan struct{}) (release func(), ok bool) {
	if fs.perClient < 0 {
		return func() {}, true
	}
	client = clientip.Network(client)
	s := fs.join(client)
	taken := false
	if wait {
		select {
		case s.ch <- struct{}{}:
			taken = true
		case <-giveUp:
		}
	} else {
		select {
		case s.ch <- struct{}{}:
			taken = true
		default:
		}
	}
	if !taken {
		fs.leave(client, s)
		return nil, false
	}
	var once sync.Once
	return func() { once.Do(func() { <-s.ch; fs.leave(client, s) }) }, true
}

func (fs *fillSlots) join(client netip.Addr) *clientSlots {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.clients == nil {
		fs.clients = make(map[netip.Addr]*clientSlots)
	}
	s := fs.clients[client]
	if s == nil {
		if s, fs.spare = fs.spare, nil; s == nil {
			s = &clientSlots{ch: make(chan struct{}, fs.perClient)}
		}
		fs.clients[client] = s
	}
	s.users++
	return s
}

// leave forgets a client with nobody holding or waiting for its slots, so
// the map holds only clients with fetches under way.
func (fs *fillSlots) leave(client netip.Addr, s *clientSlots) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if s.users--; s.users == 0 {
		delete(fs.clients, client)
		fs.spare = s // its slots are all free: each user gave its own back first
	}
}
