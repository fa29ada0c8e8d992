package forward

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

const idleReason = "idle (forward.tunnels.idle_timeout)"

// splice relays a tunnel between two TCP connections with io.Copy, which
// on Linux moves the bytes with splice(2) through a kernel pipe: no copy
// through a user-space buffer (issue 14's goal: ≥ 0.9× a direct
// connection). early are the client's bytes read before the tunnel began
// (net/http's buffer and the strict framer's); they go first.
//
// Idleness: while the kernel moves the bytes the proxy does not see each
// chunk, so each direction copies in windows of a quarter of TunnelIdle
// (a read deadline) and reports, at each window's end, whether bytes
// moved. The tunnel is closed as idle once both directions are known to
// have been quiet over one common TunnelIdle; that is noticed up to a
// window later than a byte-by-byte watch would (coarser by at most
// TunnelIdle/4). TunnelMax and Close work as on the buffered path.
func (p *Proxy) splice(early []byte, client, up *net.TCPConn, rec *record) string {
	ctx, cancel := context.WithCancel(context.Background())
	t := &tunnel{client: client, up: up, ctx: ctx, cancel: cancel}
	defer cancel()
	p.metrics.tunnels.Inc()
	defer p.metrics.tunnels.Dec()
	p.metrics.spliced.Inc()
	if len(early) > 0 {
		k, err := up.Write(early)
		t.in.Add(int64(k))
		if err != nil {
			t.close()
			rec.bytesIn = t.in.Load()
			return "destination write failed: " + err.Error()
		}
	}
	q := &quietness{idle: rec.cfg.opts.TunnelIdle, start: time.Now()}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); t.spliceCopy(up, client, &t.in, q, 0) }()
	go func() { defer wg.Done(); t.spliceCopy(client, up, &t.out, q, 1) }()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	why := p.watch(t, done, 0, rec.cfg.opts.TunnelMax)
	<-done
	rec.bytesIn, rec.bytesOut = t.in.Load(), t.out.Load()
	if why == "closed" && q.timedOut() {
		why = idleReason
	}
	return why
}

// spliceCopy relays src to dst in windows (see splice), adding what it
// moved to n; dir (0 or 1) names the direction in q. At src's end it
// half-closes dst, as copy does.
func (t *tunnel) spliceCopy(dst, src *net.TCPConn, n interface{ Add(int64) int64 }, q *quietness, dir int) {
	window := max(q.idle/4, time.Millisecond)
	for {
		begin := time.Now()
		_ = src.SetReadDeadline(begin.Add(window))
		k, err := io.Copy(dst, src) // TCPConn.ReadFrom: splice(2)
		n.Add(k)
		switch {
		case err == nil: // src's end
			q.report(dir, begin, k > 0, true)
			if dst.CloseWrite() != nil {
				t.close()
			}
			return
		case errors.Is(err, os.ErrDeadlineExceeded):
			if q.report(dir, begin, k > 0, false) {
				t.close()
				return
			}
		default:
			t.close()
			return
		}
	}
}

// quietness tracks, for both directions of a spliced tunnel, since when
// each has been known to be quiet.
type quietness struct {
	idle  time.Duration
	start time.Time

	mu    sync.Mutex // guards the rest
	dirs  [2]quietDir
	timed bool // the tunnel was closed as idle
}

type quietDir struct {
	since time.Time // start of the current run of empty windows; zero: bytes in the last one
	seen  time.Time // end of the last window reported
	done  bool      // the direction ended: quiet from then on
}

// report records the end of a window of direction dir that began at begin
// (moved: whether bytes went through) and says whether the tunnel is now
// idle: both directions known quiet over one common TunnelIdle.
func (q *quietness) report(dir int, begin time.Time, moved, done bool) bool {
	now := time.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	me, other := &q.dirs[dir], q.dirs[1-dir]
	switch {
	case moved:
		me.since = now // quiet, as far as is known, only from now
	case me.since.IsZero():
		me.since = begin
	}
	me.seen, me.done = now, done
	if done || other.since.IsZero() {
		return false
	}
	end := other.seen
	if other.done {
		end = now
	}
	if end.Sub(later(me.since, other.since)) >= q.idle && now.Sub(me.since) >= q.idle {
		q.timed = true
		return true
	}
	return false
}

func (q *quietness) timedOut() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.timed
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
