package compress

import "errors"

// Sentinel errors. Callers test them with errors.Is; returned errors wrap
// them with context.
var (
	// ErrUnsupported means the Encoding is not one this package produces
	// (only Gzip, Brotli and, as a no-op, Identity are).
	ErrUnsupported = errors.New("compress: unsupported content coding")
	// ErrTooSmall means the body is below Options.MinSize: serve it as is.
	ErrTooSmall = errors.New("compress: body below minimum size")
	// ErrLevel means an Options level is out of range.
	ErrLevel = errors.New("compress: compression level out of range")
	// ErrClosed means a Writer was used after Close.
	ErrClosed = errors.New("compress: writer closed")
)
