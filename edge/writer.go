package edge

import (
	"io"
	"net/http"
	"time"
)

// trackedWriter is an exchange's response writer: it records what was sent
// (status, bytes) for metrics and the access log, moves the write deadline
// as a large body goes out (Options.WriteTimeout), and holds the body
// budget the response takes. It lives in its exchange and is recycled with
// it (see exchange.done).
type trackedWriter struct {
	http.ResponseWriter
	timeout time.Duration // Options.WriteTimeout
	status  int
	bytes   int64
	// scratch is a buffer for the request's own use (a variant's key).
	scratch []byte
	// deadline is set once a write deadline is (see Options.WriteTimeout).
	deadline bool
	// held is the body budget this request's response holds (a disk hit,
	// a compressor), given back in finish.
	held hold
}

// maxKeepBuffer bounds the buffers a recycled writer keeps: one request
// for a huge URL must not pin its buffer for good.
const maxKeepBuffer = 4 << 10

// reusable returns b emptied, or nil if it is too large to keep.
func reusable(b []byte) []byte {
	if cap(b) > maxKeepBuffer {
		return nil
	}
	return b[:0]
}

func (t *trackedWriter) WriteHeader(status int) {
	if t.status == 0 {
		t.status = status
	}
	t.ResponseWriter.WriteHeader(status)
}

func (t *trackedWriter) Write(p []byte) (int, error) {
	if t.status == 0 {
		t.status = http.StatusOK
	}
	if t.timeout <= 0 || len(p) < minDeadlineWrite && !t.deadline {
		// Small writes fit in the socket's buffers: no deadline to move.
		n, err := t.ResponseWriter.Write(p)
		t.bytes += int64(n)
		return n, err
	}
	var n int
	for len(p) > 0 {
		// Each chunk gets the whole timeout: a slow but steady client
		// keeps going, one that stops reading is cut within it.
		if http.NewResponseController(t.ResponseWriter).SetWriteDeadline(time.Now().Add(t.timeout)) == nil {
			t.deadline = true
		}
		m, err := t.ResponseWriter.Write(p[:min(len(p), deadlineChunk)])
		n += m
		t.bytes += int64(m)
		if err != nil {
			return n, err
		}
		p = p[m:]
	}
	return n, nil
}

// ReadFrom sends src, a stored body's file (or an *io.LimitedReader of
// one), through the connection's own ReadFrom: net/http hands an *os.File
// to the socket, which sends it with sendfile(2) from the page cache
// (HTTP/1.1 over plain TCP; TLS and HTTP/2 copy through a buffer). With a
// write timeout each fileChunk gets the whole timeout, as Write's chunks do.
func (t *trackedWriter) ReadFrom(src io.Reader) (int64, error) {
	if t.status == 0 {
		t.status = http.StatusOK
	}
	rf, ok := t.ResponseWriter.(io.ReaderFrom)
	if !ok {
		// HTTP/2 and wrapped writers: through a pooled buffer (the
		// reader is hidden so a File's WriteTo does not make its own).
		buf := copyBuffers.Get().(*[]byte)
		defer copyBuffers.Put(buf)
		return io.CopyBuffer(writerOnly{t}, struct{ io.Reader }{src}, *buf)
	}
	// With the head not yet sent, net/http's ReadFrom would first read 512
	// bytes of the file through a buffer (for sniffing a type no stored
	// response needs); sent now, the body goes out whole with sendfile.
	// (The controller reaches the connection through wrapping writers,
	// such as the forward proxy's.)
	_ = http.NewResponseController(t.ResponseWriter).Flush()
	// A known length is sent in chunks of exactly that length, so that
	// sendfile is not called once more per chunk only to find the end.
	remain := int64(-1)
	lr, limited := src.(*io.LimitedReader)
	if limited {
		src, remain = lr.R, lr.N
	}
	var total int64
	defer func() {
		if limited {
			lr.N -= total // as reading through lr would have (callers check N)
		}
	}()
	for remain != 0 {
		chunk := remain
		if t.timeout > 0 {
			if http.NewResponseController(t.ResponseWriter).SetWriteDeadline(time.Now().Add(t.timeout)) == nil {
				t.deadline = true
			}
			if chunk < 0 || chunk > fileChunk {
				chunk = fileChunk
			}
		}
		r := src
		if chunk >= 0 {
			r = &io.LimitedReader{R: src, N: chunk}
		}
		n, err := rf.ReadFrom(r)
		total += n
		t.bytes += n
		if err != nil || chunk < 0 || n < chunk {
			return total, err
		}
		remain -= n
	}
	return total, nil
}

// fileChunk is the most of a file sent under one write deadline: large,
// since sendfile moves it without a copy, and a client reading at 64 KiB/s
// still finishes a chunk within a 16 s timeout.
const fileChunk = 1 << 20

// deadlineChunk is the most written under one write deadline, and
// minDeadlineWrite the least write that sets one (see Options.WriteTimeout).
const (
	deadlineChunk    = 64 << 10
	minDeadlineWrite = 16 << 10
)

// clearDeadline sends what is buffered under the last write deadline, then
// clears it, so that an idle keep-alive connection is not cut when the
// deadline passes between requests (http.Server sets none of its own
// without a WriteTimeout). A connection that failed to flush keeps its
// deadline and is closed by it.
func (t *trackedWriter) clearDeadline() {
	rc := http.NewResponseController(t.ResponseWriter)
	if rc.Flush() == nil {
		_ = rc.SetWriteDeadline(time.Time{})
	}
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (t *trackedWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }

// finish ends the response's use of the connection and gives back the
// body budget it held.
func (t *trackedWriter) finish() {
	if t.deadline {
		t.clearDeadline()
	}
	t.held.release()
}
