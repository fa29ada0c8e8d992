package rawio

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
)

// Conn reads and writes a TCP connection with system calls the Go
// scheduler does not see. It is not a net.Conn: its owner keeps the
// connection for everything else (deadlines, Close, addresses), and a
// deadline set there bounds Conn's reads and writes as it bounds the
// connection's own. Like a net.Conn it may be used by several goroutines
// at once: a read waits for the read before it, a write for the write
// before it (an upgraded upstream connection is written by the transport
// and then by a WebSocket relay, whose close frames may come from another
// goroutine).
type Conn struct {
	c  net.Conn
	rc syscall.RawConn

	rmu, wmu sync.Mutex // guard the read's and the write's fields below

	// The current read and write, kept here so that neither allocates.
	rp     []byte
	rn     int
	rerr   syscall.Errno
	readFn func(fd uintptr) bool

	wp      []byte
	wn      int
	werr    syscall.Errno
	writeFn func(fd uintptr) bool

	wv       [][]byte // writev's buffers; consumed as written
	iov      []syscall.Iovec
	writevFn func(fd uintptr) bool
}

// New returns the raw reads and writes of c, or nil when c is not a TCP
// connection (TLS, a wrapper that holds bytes): its owner then uses c
// itself. A wrapper that holds no bytes of its own says so with an
// Unwrap() net.Conn method (edge/ratelimit's cap on connections, which
// every public connection goes through): the connection under it is
// read and written.
func New(c net.Conn) *Conn {
	tc, ok := TCPOf(c)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	r := &Conn{c: c, rc: rc}
	r.readFn, r.writeFn, r.writevFn = r.readOnce, r.writeOnce, r.writevOnce
	return r
}

// Read reads into p as net.Conn.Read does: it waits for bytes (the
// netpoller parks the goroutine), honours the connection's read
// deadline, and returns io.EOF at the end of stream.
func (r *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r.rmu.Lock()
	r.rp, r.rn, r.rerr = p, 0, 0
	err := r.rc.Read(r.readFn)
	r.rp = nil
	rn, rerr := r.rn, r.rerr
	r.rmu.Unlock()
	n, err := r.result("read", rn, err, rerr)
	if err == nil && n == 0 {
		return 0, io.EOF
	}
	return n, err
}

func (r *Conn) readOnce(fd uintptr) bool {
	for {
		n, e := sysRead(fd, r.rp)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // the netpoller waits until it is readable
		case 0:
			r.rn = int(n)
		default:
			r.rerr = e
		}
		return true
	}
}

// Write writes all of p as net.Conn.Write does, waiting while the socket's
// send buffer is full and honouring the connection's write deadline.
func (r *Conn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r.wmu.Lock()
	r.wp, r.wn, r.werr = p, 0, 0
	err := r.rc.Write(r.writeFn)
	r.wp = nil
	wn, werr := r.wn, r.werr
	r.wmu.Unlock()
	return r.result("write", wn, err, werr)
}

func (r *Conn) writeOnce(fd uintptr) bool {
	for r.wn < len(r.wp) {
		rest := r.wp[r.wn:]
		n, e := sysWrite(fd, rest)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // the netpoller waits until it is writable
		case 0:
			if n == 0 {
				r.werr = syscall.EIO // cannot happen on a socket; never loop on it
				return true
			}
			r.wn += int(n)
		default:
			r.werr = e
			return true
		}
	}
	return true
}

// WriteBuffers writes every byte of bufs in writev(2) calls, as
// net.Buffers.WriteTo does on a TCP connection, and returns how many. Like
// it, it consumes bufs: its elements are moved past what was written.
func (r *Conn) WriteBuffers(bufs [][]byte) (int64, error) {
	r.wmu.Lock()
	r.wv, r.wn, r.werr = bufs, 0, 0
	err := r.rc.Write(r.writevFn)
	r.wv = nil
	clear(r.iov[:cap(r.iov)]) // the last writev left its pointers past len: they would keep a body alive
	wn, werr := r.wn, r.werr
	r.wmu.Unlock()
	n, err := r.result("writev", wn, err, werr)
	return int64(n), err
}

// maxIovecs is how many buffers one writev(2) is given (the kernel's
// UIO_MAXIOV is 1024).
const maxIovecs = 1024

func (r *Conn) writevOnce(fd uintptr) bool {
	for {
		r.iov = r.iov[:0]
		for _, b := range r.wv {
			if len(b) == 0 {
				continue
			}
			r.iov = append(r.iov, syscall.Iovec{Base: &b[0]})
			r.iov[len(r.iov)-1].SetLen(len(b))
			if len(r.iov) == maxIovecs {
				break
			}
		}
		if len(r.iov) == 0 {
			return true
		}
		n, e := sysWritev(fd, r.iov, r.wv)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		case 0:
			if n == 0 {
				r.werr = syscall.EIO
				return true
			}
			r.wn += int(n)
			r.consume(int(n))
		default:
			r.werr = e
			return true
		}
	}
}

// consume drops n written bytes from the front of r.wv.
func (r *Conn) consume(n int) {
	for len(r.wv) > 0 && n >= len(r.wv[0]) {
		n -= len(r.wv[0])
		r.wv = r.wv[1:]
	}
	if n > 0 {
		r.wv[0] = r.wv[0][n:]
	}
}

// result is what an operation returns: n bytes done, and the error of the
// RawConn (a deadline, a closed connection) or of the system call, as
// net.Conn's methods return them.
func (r *Conn) result(op string, n int, err error, errno syscall.Errno) (int, error) {
	switch {
	case err != nil:
		return n, r.opError(op, err)
	case errno != 0:
		return n, r.opError(op, os.NewSyscallError(op, errno))
	}
	return n, nil
}

// opError is err as net.Conn's methods return it.
func (r *Conn) opError(op string, err error) error {
	if oe, ok := err.(*net.OpError); ok {
		err = oe.Err // RawConn's own: "raw-read", "raw-write"
	}
	return &net.OpError{Op: op, Net: "tcp", Source: r.c.LocalAddr(), Addr: r.c.RemoteAddr(), Err: err}
}
