package compress

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"fmt"
	"io"
	"sync"

	"github.com/andybalholm/brotli"

	"edged/internal/fielderr"
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

// Options configure an Encoder. NewEncoder gives a zero field the default
// named on it ([DefaultOptions] holds them all); nothing is turned off with a
// negative number (NoMinSize says it).
type Options struct {
	// GzipLevel is the gzip level, 1 (fastest) to 9 (smallest). Default
	// DefaultGzipLevel.
	GzipLevel int
	// BrotliLevel is the brotli quality, 1 (fastest) to 11 (smallest).
	// Default DefaultBrotliLevel.
	BrotliLevel int
	// MinSize is the smallest body, in bytes, worth compressing. Default
	// DefaultMinSize.
	MinSize int
	// NoMinSize compresses bodies of every size, whatever MinSize says.
	NoMinSize bool
}

// DefaultOptions returns the values NewEncoder gives the fields of Options
// left zero: a caller that validates first (edge/config) starts from them,
// since [Options.Validate] takes every field as given.
func DefaultOptions() Options { return Options{}.withDefaults() }

// withDefaults returns o with zero fields replaced by their defaults: the
// one place that knows them.
func (o Options) withDefaults() Options {
	o.GzipLevel = cmp.Or(o.GzipLevel, DefaultGzipLevel)
	o.BrotliLevel = cmp.Or(o.BrotliLevel, DefaultBrotliLevel)
	o.MinSize = cmp.Or(o.MinSize, DefaultMinSize)
	if o.NoMinSize {
		o.MinSize = 0
	}
	return o
}

// Validate reports every field of o that is out of range, each a
// [*fielderr.Error] naming the field (a bad level wraps ErrLevel), joined.
// It takes the fields as given, zero included: start from [DefaultOptions].
func (o Options) Validate() error {
	var l fielderr.List
	if o.GzipLevel < gzip.BestSpeed || o.GzipLevel > gzip.BestCompression {
		l.Wrapf("GzipLevel", ErrLevel, "must be 1 to 9, got %d", o.GzipLevel)
	}
	if o.BrotliLevel < 1 || o.BrotliLevel > brotli.BestCompression {
		l.Wrapf("BrotliLevel", ErrLevel, "must be 1 to 11, got %d", o.BrotliLevel)
	}
	if o.MinSize < 0 {
		l.Addf("MinSize", "must not be negative, got %d", o.MinSize)
	} else {
		l.Check(o.MinSize > 0 || o.NoMinSize, "MinSize", "must be positive (NoMinSize compresses every size), got 0")
	}
	return l.Err()
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
	o := opts.withDefaults()
	if err := o.Validate(); err != nil {
		return nil, fielderr.Prefix("compress: option ", err)
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

// Options returns the options in force, defaults applied (with NoMinSize,
// MinSize is 0).
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
