package origin

import (
	"fmt"
	"io"
	"sync"
)

// requestBody wraps an attempt's request body to remember why reading it
// failed. The transport returns a request body's read error as it is, with
// nothing to tell it from a failure of the upstream connection; but a body
// that the client cut short, malformed or reset is the client's fault, and
// must neither count against the server (passive ejection: five such
// uploads would eject a healthy origin) nor be tried on another one.
type requestBody struct {
	body io.Reader
	want int64 // the declared length; -1 unknown

	mu  sync.Mutex // the transport reads in its own goroutine
	n   int64
	err error // the first read error other than a full body's io.EOF
}

func (b *requestBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n += int64(n)
	if err != nil && b.err == nil {
		switch {
		case err != io.EOF:
			b.err = err
		case b.want >= 0 && b.n < b.want:
			// The transport reports this as its own error
			// ("ContentLength=8 with Body length 4").
			b.err = fmt.Errorf("request body ended after %d of its %d bytes: %w", b.n, b.want, io.ErrUnexpectedEOF)
		}
	}
	return n, err
}

// failed returns the body's read error, nil if it read cleanly (so far).
func (b *requestBody) failed() error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// bodyFailure is the failure of an exchange whose request body failed: the
// body's error (what the transport returned is most likely the same one).
func bodyFailure(up *upstream, bodyErr error) *failure {
	return &failure{err: wrapAt(up, ErrRequestBody, bodyErr), requestBody: true}
}
