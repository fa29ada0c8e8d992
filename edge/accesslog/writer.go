package accesslog

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Format is how lines are written.
type Format int

const (
	// JSON writes one JSON object per line (the default).
	JSON Format = iota
	// Combined writes the combined log format of Apache and nginx.
	Combined
)

// ParseFormat reads "json" or "combined".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "json", "":
		return JSON, nil
	case "combined":
		return Combined, nil
	}
	return JSON, fmt.Errorf("accesslog: unknown format %q (want json or combined)", s)
}

// Defaults of Options.
const (
	DefaultBufferBytes   = 64 << 10
	DefaultFlushInterval = time.Second
	DefaultBuffers       = 4
)

// Options configure a Writer. Zero fields take the default named on them.
type Options struct {
	// Format of the lines; the zero value is JSON.
	Format Format
	// File is the path of the log file, opened for appending (created with
	// mode 0640); Reopen opens it anew. "" writes to Output.
	File string
	// Output receives the lines when File is ""; nil means os.Stderr.
	Output io.Writer
	// BufferBytes is the size of each buffer: lines are written when one
	// is full, as one write. Default DefaultBufferBytes (64 KiB).
	BufferBytes int
	// FlushInterval is the longest a line waits in a buffer that is not
	// full. Default DefaultFlushInterval (1 s).
	FlushInterval time.Duration
	// Buffers is how many buffers exist, those being filled included:
	// while the output is slow, full ones wait to be written, and when
	// all of them wait, lines are dropped. Up to Buffers-1 are filled at
	// once, by requests logging at the same moment. Default
	// DefaultBuffers (4); at least 2.
	Buffers int
	// Registerer receives edged_access_log_dropped_total; nil registers
	// nothing.
	Registerer prometheus.Registerer
	// Logger receives write and reopen failures; nil discards them.
	Logger *slog.Logger
}

// Entry is a line to log: it appends itself in either format.
type Entry interface {
	AppendJSON(b []byte) []byte
	AppendCombined(b []byte) []byte
}

// Writer is a buffered access log. Log and Write are safe for concurrent
// use and never wait for the output.
type Writer struct {
	opts     Options
	log      *slog.Logger
	droppedN atomic.Int64 // lines dropped: edged_access_log_dropped_total

	// shards are where lines are appended: Write takes the first whose
	// lock is free, so that a request never waits on another that holds
	// a lock, even one whose thread the OS has descheduled right then.
	shards []shard

	// Buffers not being filled are in free or in full; full's capacity
	// is their number, so a send to it never blocks.
	free chan []byte // empty buffers
	full chan []byte // buffers to write, in the order they were filled

	flushes chan chan struct{} // Flush's requests
	reopens chan chan error    // Reopen's requests
	stop    chan struct{}      // closed by Close
	stopped chan struct{}      // closed when run returns
	once    sync.Once
	lines   sync.Pool // *lineBuffer: where Log encodes the lines it cannot encode in place

	// Owned by run.
	out      io.Writer
	file     *os.File // nil when writing to Options.Output
	failing  bool     // the last write failed (logged once per failure run)
	closeErr error    // what closing the file returned, for Close
}

// shard is one place lines are appended to. Its buffer is taken from the
// Writer's free ones when a line comes, and queued to be written when full
// or flushed; so the Buffers buffers are all there is, however many shards
// fill them.
type shard struct {
	mu     sync.Mutex
	cur    []byte // the buffer being filled; nil: none taken yet
	closed bool
	times  timeCache // the time's text of the last Record encoded into cur
	_      [64]byte  // one cache line each: no false sharing between shards
}

// New opens opts.File (when set) and starts the Writer's goroutine; Close
// stops it.
func New(opts Options) (*Writer, error) {
	opts.BufferBytes = cmp.Or(opts.BufferBytes, DefaultBufferBytes)
	opts.FlushInterval = cmp.Or(opts.FlushInterval, DefaultFlushInterval)
	opts.Buffers = cmp.Or(opts.Buffers, DefaultBuffers)
	switch {
	case opts.BufferBytes < 0:
		return nil, fmt.Errorf("accesslog: BufferBytes must be positive, got %d", opts.BufferBytes)
	case opts.FlushInterval < 0:
		return nil, fmt.Errorf("accesslog: FlushInterval must be positive, got %v", opts.FlushInterval)
	case opts.Buffers < 2:
		return nil, fmt.Errorf("accesslog: Buffers must be at least 2, got %d", opts.Buffers)
	case opts.Format != JSON && opts.Format != Combined:
		return nil, fmt.Errorf("accesslog: unknown Format %d", opts.Format)
	}
	w := &Writer{
		opts: opts,
		log:  cmp.Or(opts.Logger, slog.New(slog.DiscardHandler)),
		// At least one buffer is left to be written while the others
		// are being filled.
		shards:  make([]shard, opts.Buffers-1),
		free:    make(chan []byte, opts.Buffers),
		full:    make(chan []byte, opts.Buffers),
		flushes: make(chan chan struct{}),
		reopens: make(chan chan error),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
		out:     cmp.Or[io.Writer](opts.Output, os.Stderr),
	}
	w.lines.New = func() any { return &lineBuffer{b: make([]byte, 0, 1024)} }
	for range opts.Buffers {
		w.free <- make([]byte, 0, opts.BufferBytes)
	}
	if opts.File != "" {
		f, err := openFile(opts.File)
		if err != nil {
			return nil, err
		}
		w.out, w.file = f, f
	}
	if opts.Registerer != nil {
		dropped := prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "edged_access_log_dropped_total",
			Help: "Access log lines dropped because the log's output was slower than the requests (every buffer waited to be written) or failed.",
		}, func() float64 { return float64(w.droppedN.Load()) })
		if err := opts.Registerer.Register(dropped); err != nil {
			if w.file != nil {
				_ = w.file.Close()
			}
			return nil, fmt.Errorf("accesslog: register metrics: %w", err)
		}
	}
	go w.run()
	return w, nil
}

func openFile(name string) (*os.File, error) {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("accesslog: %w", err)
	}
	return f, nil
}

// Format is the format of w's lines.
func (w *Writer) Format() Format { return w.opts.Format }

// lineBuffer is where Log encodes a line, and the text of the last second
// a Record's time was written as there.
type lineBuffer struct {
	b     []byte
	times timeCache
}

// Log encodes e in w's format and writes the line. A *Record is encoded
// straight into a shard's buffer, under its lock, as Write would have
// copied it there (see logRecord); other entries, and a Record whose line
// could outgrow the room a buffer has, are encoded apart and then written.
func (w *Writer) Log(e Entry) {
	if rec, _ := e.(*Record); rec != nil && w.logRecord(rec) {
		return
	}
	lb := w.lines.Get().(*lineBuffer)
	b := lb.b[:0]
	rec, _ := e.(*Record)
	switch {
	case rec != nil && w.opts.Format == Combined:
		b = rec.appendCombined(b, &lb.times)
	case rec != nil:
		b = rec.appendJSON(b, &lb.times)
	case w.opts.Format == Combined:
		b = e.AppendCombined(b)
	default:
		b = e.AppendJSON(b)
	}
	w.Write(b)
	if cap(b) <= 64<<10 { // a hostile request's huge line is not kept
		lb.b = b
		w.lines.Put(lb)
	}
}

// fixedJSONBytes bounds the bytes of a JSON line that are not its
// strings: the names and punctuation (about 260), the time (24), an IPv6
// address without its zone (39) and the numbers (20 digits and a sign or
// point each, at most).
const fixedJSONBytes = 512

// jsonBound is the most bytes r's JSON line can take: each byte of a
// string is escaped to at most 6 (\u00XX, or \ufffd for one invalid
// byte; a 3-byte U+2028 becomes 6).
func (r *Record) jsonBound() int {
	return fixedJSONBytes + 6*(len(r.Client.Zone())+len(r.User)+len(r.Method)+len(r.Host)+len(r.Target)+
		len(r.Proto)+len(r.Upstream)+len(r.Cache)+len(r.Site)+len(r.Route)+len(r.RequestID)+
		len(r.UserAgent)+len(r.Referer))
}

// logRecord appends rec's line to a shard's buffer, encoding it there: no
// encoding buffer to take and put back, and no copy of the line. It
// reports false, having written nothing, when the line may not fit in an
// empty buffer (a hostile request's huge one, or a buffer of a few bytes):
// the caller encodes it apart and writes it as Write does. Otherwise the
// line is logged, or dropped and counted, as Write says.
func (w *Writer) logRecord(rec *Record) bool {
	bound := 0
	if w.opts.Format == JSON {
		bound = rec.jsonBound()
	} else {
		bound = rec.combinedBound()
	}
	if bound > w.opts.BufferBytes {
		return false
	}
	w.place(func(s *shard) (ok, closed bool) { return w.addRecord(s, rec, bound) })
	return true
}

// addRecord is add for a Record encoded in place: a buffer with less room
// than bound, rec's longest line, is queued to be written first, so that
// the line never makes the buffer grow. s.mu is held.
func (w *Writer) addRecord(s *shard, rec *Record, bound int) (ok, closed bool) {
	if ok, closed = w.room(s, bound); !ok {
		return false, closed
	}
	if w.opts.Format == JSON {
		s.cur = rec.appendJSON(s.cur, &s.times)
	} else {
		s.cur = rec.appendCombined(s.cur, &s.times)
	}
	return true, false
}

// Write copies line, which must end with a newline, into a buffer; the
// buffer is written later, by w's goroutine. When the line does not fit and
// no empty buffer is left (the output is slow), or w is closed, the line is
// dropped and counted. A line longer than a buffer gets one of its own
// size.
//
// The line goes to the first shard whose lock is free: a line written while
// another Write holds the first shard's lock goes to another rather than
// wait, and may then be written before or after the lines logged around it
// (each line's time says when its request ended). Lines written while no
// other Write runs keep their order. Only when every shard is locked does
// Write wait, for the first.
func (w *Writer) Write(line []byte) {
	w.place(func(s *shard) (ok, closed bool) { return w.add(s, line) })
}

// place runs add, which appends a line to a shard's buffer, on the first
// shard whose lock is free, as Write says, and counts the line dropped
// when add takes it nowhere.
func (w *Writer) place(add func(s *shard) (ok, closed bool)) {
	busy := false
	for i := range w.shards {
		s := &w.shards[i]
		if !s.mu.TryLock() {
			busy = true
			continue
		}
		ok, closed := add(s)
		s.mu.Unlock()
		if ok {
			return
		}
		if closed {
			break
		}
	}
	if busy {
		s := &w.shards[0]
		s.mu.Lock()
		ok, _ := add(s)
		s.mu.Unlock()
		if ok {
			return
		}
	}
	w.droppedN.Add(1)
}

// add appends line to s's buffer, making room first (room). It reports
// false when no empty buffer is left, or s is closed (closed true). s.mu
// is held.
func (w *Writer) add(s *shard, line []byte) (ok, closed bool) {
	if ok, closed = w.room(s, len(line)); ok {
		s.cur = append(s.cur, line...)
	}
	return ok, closed
}

// room makes s's buffer one that n more bytes fit in (unless n is more
// than a buffer holds): a buffer that has lines but not the room is queued
// to be written, and s takes an empty one if it has none. It reports false
// when no empty buffer is left, or s is closed (closed true). s.mu is held.
func (w *Writer) room(s *shard, n int) (ok, closed bool) {
	if s.closed {
		return false, true
	}
	if len(s.cur) > 0 && len(s.cur)+n > cap(s.cur) {
		w.full <- s.cur // never blocks: see Writer.full
		s.cur = nil
	}
	if s.cur == nil {
		select {
		case s.cur = <-w.free:
		default:
			return false, false
		}
	}
	return true, false
}

// Flush writes every line logged before it, then returns. Lines are
// flushed on their own every FlushInterval; Flush is for tests and for
// callers that must see the lines now.
func (w *Writer) Flush() {
	done := make(chan struct{})
	select {
	case w.flushes <- done:
		<-done
	case <-w.stopped:
	}
}

// Reopen closes the log file and opens it again under its name, so that
// lines logged after Reopen returns go to a new file once logrotate has
// renamed the old one (nginx's and logrotate's SIGUSR1 convention); those
// logged before go to the old file. If the file cannot be opened, the old
// one stays in use and the error is returned. Without a file it does
// nothing.
func (w *Writer) Reopen() error {
	if w.opts.File == "" {
		return nil
	}
	reply := make(chan error, 1)
	select {
	case w.reopens <- reply:
		return <-reply
	case <-w.stopped:
		return errors.New("accesslog: reopen: the log is closed")
	}
}

// Close writes every line logged before it, stops w's goroutine and closes
// the file. Lines logged after Close are dropped and counted.
func (w *Writer) Close() error {
	w.once.Do(func() {
		for i := range w.shards {
			s := &w.shards[i]
			s.mu.Lock()
			s.closed = true
			s.mu.Unlock()
		}
		close(w.stop)
	})
	<-w.stopped
	return w.closeErr
}

// Dropped is the number of lines dropped so far.
func (w *Writer) Dropped() int64 { return w.droppedN.Load() }

// run writes buffers as they fill, and those being filled every
// FlushInterval, until Close.
func (w *Writer) run() {
	defer close(w.stopped)
	tick := time.NewTicker(w.opts.FlushInterval)
	defer tick.Stop()
	for {
		select {
		case b := <-w.full:
			w.write(b)
		case <-tick.C:
			w.flush()
		case done := <-w.flushes:
			w.flush()
			close(done)
		case reply := <-w.reopens:
			w.flush()
			reply <- w.reopen()
		case <-w.stop:
			w.flush()
			if w.file != nil {
				if err := w.file.Close(); err != nil {
					w.closeErr = fmt.Errorf("accesslog: close: %w", err)
				}
			}
			return
		}
	}
}

// flush writes the buffers queued, then those being filled.
func (w *Writer) flush() {
	for i := range w.shards {
		s := &w.shards[i]
		s.mu.Lock()
		if len(s.cur) > 0 {
			w.full <- s.cur // never blocks: see Writer.full
			s.cur = nil
		}
		s.mu.Unlock()
	}
	w.drain()
}

// drain writes the buffers queued.
func (w *Writer) drain() {
	for {
		select {
		case b := <-w.full:
			w.write(b)
		default:
			return
		}
	}
}

// write writes b as one write and frees it.
func (w *Writer) write(b []byte) {
	if _, err := w.out.Write(b); err != nil {
		w.droppedN.Add(int64(bytes.Count(b, []byte{'\n'})))
		if !w.failing {
			w.log.Error("access log write failed; lines are dropped until a write succeeds", "file", w.opts.File, "err", err)
		}
		w.failing = true
	} else if w.failing {
		w.log.Info("access log writes succeed again", "file", w.opts.File)
		w.failing = false
	}
	if cap(b) > w.opts.BufferBytes {
		b = make([]byte, 0, w.opts.BufferBytes) // grown by a long line: not kept
	}
	w.free <- b[:0]
}

// reopen opens the file anew and closes the old one.
func (w *Writer) reopen() error {
	f, err := openFile(w.opts.File)
	if err != nil {
		w.log.Error("access log reopen failed; still writing to the old file", "file", w.opts.File, "err", err)
		return err
	}
	old := w.file
	w.out, w.file = f, f
	if err := old.Close(); err != nil {
		w.log.Warn("access log: closing the old file", "file", w.opts.File, "err", err)
	}
	return nil
}
