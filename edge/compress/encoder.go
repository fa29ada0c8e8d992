package compress

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"sync"

	"github.com/andybalholm/brotli"
)

// Defaults for the zero Options fields.
const (
	DefaultGzipLevel   = 6    // gzip's own default: most of the gain for little CPU.
	DefaultBrotliLevel = 5    // the usual on-the-fly choice: better than gzip -6, as fast.
	DefaultMinSize     = 1024 // below about 1 KiB the coding's overhead eats the gain.
)

// maxPooledScratch bounds the scratch buffers kept between Encode calls, so
// one huge body does not pin its size in memory for good.
const maxPooledScratch = 1 << 20

// Options configure an Encoder. Every zero value means the default.
type Options struct {
	// GzipLevel is the gzip level, 1 (fastest) to 9 (smallest); 0 means
	// DefaultGzipLevel.
	GzipLevel int
	// BrotliLevel is the brotli quality, 1 (fastest) to 11 (smallest); 0
	// means DefaultBrotliLevel.
	BrotliLevel int
	// MinSize is the smallest body, in bytes, worth compressing; 0 means
	// DefaultMinSize and a negative value means no minimum.
	MinSize int
}

// withDefaults returns o with zero fields replaced by defaults, or an error
// wrapping ErrLevel naming the bad field.
func (o Options) withDefaults() (Options, error) {
	if o.GzipLevel == 0 {
		o.GzipLevel = DefaultGzipLevel
	}
	if o.BrotliLevel == 0 {
		o.BrotliLevel = DefaultBrotliLevel
	}
	if o.MinSize == 0 {
		o.MinSize = DefaultMinSize
	}
	if o.MinSize < 0 {
		o.MinSize = 0
	}
	if o.GzipLevel < gzip.BestSpeed || o.GzipLevel > gzip.BestCompression {
		return o, fmt.Errorf("GzipLevel %d, want 1..9: %w", o.GzipLevel, ErrLevel)
	}
	if o.BrotliLevel < 1 || o.BrotliLevel > brotli.BestCompression {
		return o, fmt.Errorf("BrotliLevel %d, want 1..11: %w", o.BrotliLevel, ErrLevel)
	}
	return o, nil
}

// compressor is what *gzip.Writer and *brotli.Writer have in common.
type compressor interface {
	io.WriteCloser
	Flush() error
	Reset(dst io.Writer)
}

var (
	_ compressor = (*gzip.Writer)(nil)
	_ compressor = (*brotli.Writer)(nil)
)

// An Encoder compresses bodies with gzip or brotli at fixed levels. It keeps
// pools of compressors and scratch buffers, so encoding many bodies
// allocates little beyond the results. It is safe for concurrent use.
type Encoder struct {
	opts    Options   // with defaults applied; read-only after NewEncoder
	gzips   sync.Pool // of *gzip.Writer at opts.GzipLevel
	brotlis sync.Pool // of *brotli.Writer at opts.BrotliLevel
	scratch sync.Pool // of *bytes.Buffer for Encode
}

// NewEncoder returns an Encoder for opts. The error wraps ErrLevel when a
// level is out of range.
func NewEncoder(opts Options) (*Encoder, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("compress: %w", err)
	}
	e := &Encoder{opts: o}
	e.gzips.New = func() any {
		zw, _ := gzip.NewWriterLevel(io.Discard, o.GzipLevel) // level checked above.
		return zw
	}
	e.brotlis.New = func() any { return brotli.NewWriterLevel(io.Discard, o.BrotliLevel) }
	e.scratch.New = func() any { return new(bytes.Buffer) }
	return e, nil
}

// Options returns the options in force, defaults applied (MinSize 0 then
// means no minimum).
func (e *Encoder) Options() Options { return e.opts }

// Worth reports whether a body of size bytes is big enough to compress. A
// negative size (unknown length, a stream) is worth it.
func (e *Encoder) Worth(size int64) bool { return size < 0 || size >= int64(e.opts.MinSize) }

// Encode returns body compressed with enc, in a new slice of exactly its
// length (it is meant to be stored). Identity returns body itself. The error
// wraps ErrUnsupported for another coding and ErrTooSmall when body is
// shorter than Options.MinSize. The result may be larger than body for
// incompressible input; a caller may then prefer to serve identity.
func (e *Encoder) Encode(enc Encoding, body []byte) ([]byte, error) {
	if enc == Identity {
		return body, nil
	}
	if !e.Worth(int64(len(body))) {
		return nil, fmt.Errorf("compress: %s of %d bytes (minimum %d): %w", enc, len(body), e.opts.MinSize, ErrTooSmall)
	}
	zw, err := e.get(enc)
	if err != nil {
		return nil, err
	}
	buf := e.scratch.Get().(*bytes.Buffer)
	defer e.putScratch(buf)
	buf.Reset()
	zw.Reset(buf)
	if _, err := zw.Write(body); err != nil {
		return nil, fmt.Errorf("compress: %s encode: %w", enc, err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress: %s encode: %w", enc, err)
	}
	e.put(enc, zw)
	out := make([]byte, buf.Len()) // exact length: the result is stored, the scratch reused.
	copy(out, buf.Bytes())
	return out, nil
}

// get takes a compressor for enc from its pool.
func (e *Encoder) get(enc Encoding) (compressor, error) {
	switch enc {
	case Gzip:
		return e.gzips.Get().(*gzip.Writer), nil
	case Brotli:
		return e.brotlis.Get().(*brotli.Writer), nil
	default:
		return nil, fmt.Errorf("compress: %q: %w", enc, ErrUnsupported)
	}
}

// put returns a compressor to its pool, first dropping its reference to the
// last destination.
func (e *Encoder) put(enc Encoding, zw compressor) {
	zw.Reset(io.Discard)
	switch enc {
	case Gzip:
		e.gzips.Put(zw)
	case Brotli:
		e.brotlis.Put(zw)
	}
}

func (e *Encoder) putScratch(buf *bytes.Buffer) {
	if buf.Cap() <= maxPooledScratch {
		e.scratch.Put(buf)
	}
}
