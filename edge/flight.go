package edge

import (
	"edged/storage"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// flight is one shared upstream fetch in progress. Its result is complete
// when done is closed; body publishes the response body as it arrives, so
// that a range request need not wait for the whole object.
type flight struct {
	done chan struct{} // closed once res is set
	res  *fillResult
	body *progress
}

// flights collapses concurrent fetches of one key into one flight: the
// equivalent of x/sync/singleflight, plus the body in progress.
type flights struct {
	tasks *tasks     // tracks each flight's goroutine
	mu    sync.Mutex // guards m
	m     map[string]*flight
}

// join returns the flight for key, starting one that runs fill when none is
// in progress; leader reports whether this call started it. The flight runs
// in its own goroutine, so no caller's disconnect can cancel it; it is
// tracked as an upstream fetch of storeKey (key may hold credentials).
func (fs *flights) join(key, storeKey string, fill func(*progress) *fillResult) (f *flight, leader bool) {
	fs.mu.Lock()
	if f, ok := fs.m[key]; ok {
		fs.mu.Unlock()
		return f, false
	}
	if fs.m == nil {
		fs.m = make(map[string]*flight)
	}
	f = &flight{done: make(chan struct{}), body: newProgress()}
	fs.m[key] = f
	fs.mu.Unlock()
	fs.tasks.start(taskFetch, storeKey, func() {
		res := fill(f.body)
		f.body.end(res.entry == nil || !res.stored)
		fs.mu.Lock()
		delete(fs.m, key)
		fs.mu.Unlock()
		f.res = res
		close(f.done)
	})
	return f, true
}

// progress is a fill's body as it arrives. Once ready, header is the
// response's stored header when the body is published here (a complete,
// storable 200 of known length), nil otherwise.
type progress struct {
	ready chan struct{} // closed once header, size and status are known, or the fill ended

	mu     sync.Mutex // guards the fields below
	cond   sync.Cond  // signalled when n grows or the fill ends
	header http.Header
	size   int64  // the body's length (Content-Length)
	buf    []byte // the body; buf[:n] is final
	n      int
	ended  bool
	failed bool // the body did not arrive whole
}

func newProgress() *progress {
	p := &progress{ready: make(chan struct{})}
	p.cond.L = &p.mu
	return p
}

// publish announces a body of size bytes that will be read into buf.
func (p *progress) publish(header http.Header, buf []byte) {
	p.mu.Lock()
	p.header, p.buf, p.size = header, buf, int64(cap(buf))
	p.mu.Unlock()
	close(p.ready)
}

// grew records that buf[:n] has arrived.
func (p *progress) grew(n int) {
	p.mu.Lock()
	p.n = n
	p.mu.Unlock()
	p.cond.Broadcast()
}

// end marks the fill over; failed says the body is not whole.
func (p *progress) end(failed bool) {
	p.mu.Lock()
	if !p.ended {
		p.ended, p.failed = true, failed && p.n < int(p.size)
	}
	published := p.header != nil
	p.mu.Unlock()
	p.cond.Broadcast()
	if !published {
		select {
		case <-p.ready:
		default:
			close(p.ready)
		}
	}
}

// streamable reports the published header, or nil when the body is not
// published here.
func (p *progress) streamable() (http.Header, int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.header, p.size
}

// await blocks until at least upTo bytes have arrived and returns them; ok
// is false when the body ended short of that.
func (p *progress) await(upTo int64) (body []byte, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for int64(p.n) < upTo && !p.ended {
		p.cond.Wait()
	}
	return p.buf[:p.n], int64(p.n) >= upTo
}

// fillResult is the outcome of one shared upstream fetch.
type fillResult struct {
	entry     *storage.Entry // complete response (stored or not); nil on error or stream
	shared    bool           // entry may be served to every waiter
	stored    bool
	ttl       time.Duration // remaining freshness of a stored entry
	reason    string        // why it was not stored (Cache-Status detail)
	varyNames []string      // the stored response's Vary, for waiters to match
	setCookie []string      // only for the request that caused the fetch
	status    int           // upstream status; 0 when err is set
	err       error

	// stream is a response too large to store: its first bytes were read
	// into prefix. Only the leader may take it (claim); until it does, the
	// stream is held for it (holdForLeader).
	stream  *http.Response
	prefix  []byte
	claimed atomic.Bool

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
