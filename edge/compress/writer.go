package compress

import (
	"fmt"
	"io"
)

// A Writer compresses a stream into an underlying io.Writer, for responses
// too large to store. Close must be called to finish the stream (it writes
// the coding's trailer) and to give the compressor back to the Encoder's
// pool; it does not close the underlying writer. A Writer is not safe for
// concurrent use.
type Writer struct {
	e      *Encoder
	enc    Encoding
	dst    io.Writer  // for Identity, written through
	zw     compressor // nil for Identity
	closed bool
}

// NewWriter returns a Writer that writes w's content coded with enc.
// Identity writes through unchanged. The error wraps ErrUnsupported for any
// other coding than Gzip, Brotli or Identity. Options.MinSize is not applied
// (see Worth).
func (e *Encoder) NewWriter(enc Encoding, w io.Writer) (*Writer, error) {
	if enc == Identity {
		return &Writer{e: e, enc: enc, dst: w}, nil
	}
	zw, err := e.get(enc)
	if err != nil {
		return nil, err
	}
	zw.Reset(w)
	return &Writer{e: e, enc: enc, dst: w, zw: zw}, nil
}

// Write compresses p into the underlying writer. It returns len(p) on
// success; output may stay buffered until Flush or Close.
func (w *Writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, ErrClosed
	}
	if w.zw == nil {
		return w.dst.Write(p)
	}
	n, err := w.zw.Write(p)
	if err != nil {
		return n, fmt.Errorf("compress: %s write: %w", w.enc, err)
	}
	return n, nil
}

// Flush writes out everything written so far, so that a client can decode
// it now (for example before waiting on the origin). It does not flush the
// underlying writer itself: an http.ResponseWriter needs its own Flush.
func (w *Writer) Flush() error {
	if w.closed {
		return ErrClosed
	}
	if w.zw == nil {
		return nil
	}
	if err := w.zw.Flush(); err != nil {
		return fmt.Errorf("compress: %s flush: %w", w.enc, err)
	}
	return nil
}

// Close finishes the stream and releases the compressor. Closing twice is a
// no-op.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if w.zw == nil {
		return nil
	}
	zw := w.zw
	w.zw = nil
	if err := zw.Close(); err != nil {
		return fmt.Errorf("compress: %s close: %w", w.enc, err) // not pooled: its state is unknown.
	}
	w.e.put(w.enc, zw)
	return nil
}

var _ io.WriteCloser = (*Writer)(nil)
