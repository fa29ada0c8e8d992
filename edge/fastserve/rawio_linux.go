//go:build linux

package fastserve

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// rawIO makes a connection's reads and writes as raw system calls,
// through the connection's syscall.RawConn (which waits on the network
// poller when the socket is not ready, and keeps the deadlines).
//
// Why: the socket is non-blocking, so none of these calls waits, but one
// made through syscall.Syscall tells the scheduler it might. When every P
// of the process was idle (a server between its clients' requests), that
// wakes the runtime's monitor thread (sysmon), which then looks every
// 20 µs for a millisecond before it slows down; a load that keeps the
// process going idle and busy pays that again and again (docs/design.md,
// "Raw system calls"). A body file's sendfile(2) stays an ordinary call:
// it may read the disk, and made raw it kept its P through that and
// through the delivery of the body, which cost throughput when measured.
type rawIO struct {
	rc syscall.RawConn

	buf []byte // read: into; write: from
	n   int
	err syscall.Errno

	iov   [2]syscall.Iovec // writev
	niov  int
	total int

	readFn, writeFn, writevFn func(uintptr) bool
}

// init sets up raw I/O on c's connection, if it is a TCP connection.
func (r *rawIO) init(c net.Conn) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return
	}
	r.rc = rc
	r.readFn, r.writeFn, r.writevFn = r.readStep, r.writeStep, r.writevStep
}

// read is net.Conn's Read.
func (c *conn) read(p []byte) (int, error) {
	r := &c.raw
	if r.rc == nil || len(p) == 0 {
		return c.rwc.Read(p)
	}
	r.buf, r.n, r.err = p, 0, 0
	err := r.rc.Read(r.readFn)
	r.buf = nil
	switch {
	case err != nil:
		return 0, err
	case r.err != 0:
		return 0, c.opError("read", os.NewSyscallError("read", r.err))
	case r.n == 0:
		return 0, io.EOF
	}
	return r.n, nil
}

func (r *rawIO) readStep(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&r.buf[0])), uintptr(len(r.buf)))
		if e == 0 {
			r.n = int(n)
			return true
		}
		if again, done := r.settle(e); !again {
			return done
		}
	}
}

// settle is what a raw call's loop does after it failed with e: call
// again (EINTR), wait for the poller (EAGAIN: not done), or stop, with e
// kept (done).
func (r *rawIO) settle(e syscall.Errno) (again, done bool) {
	switch e {
	case syscall.EINTR:
		return true, false
	case syscall.EAGAIN:
		return false, false
	}
	r.err = e
	return false, true
}

// write is net.Conn's Write: all of p, or an error.
func (c *conn) write(p []byte) (int, error) {
	r := &c.raw
	if r.rc == nil {
		return c.rwc.Write(p)
	}
	r.buf, r.n, r.err = p, 0, 0
	err := r.rc.Write(r.writeFn)
	r.buf = nil
	if err == nil && r.err != 0 {
		err = c.opError("write", os.NewSyscallError("write", r.err))
	}
	return r.n, err
}

func (r *rawIO) writeStep(fd uintptr) bool {
	for r.n < len(r.buf) {
		p := r.buf[r.n:]
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		if e == 0 {
			r.n += int(n)
			continue
		}
		if again, done := r.settle(e); !again {
			return done
		}
	}
	return true
}

// writev writes a then b in one writev(2) (more if the socket takes
// them in parts).
func (c *conn) writev(a, b []byte) error {
	r := &c.raw
	switch {
	case r.rc == nil:
		c.iov = append(c.iov[:0], a, b)
		_, err := c.iov.WriteTo(c.rwc)
		return err
	case len(a) == 0:
		_, err := c.write(b)
		return err
	case len(b) == 0:
		_, err := c.write(a)
		return err
	}
	r.iov[0] = syscall.Iovec{Base: &a[0]}
	r.iov[0].SetLen(len(a))
	r.iov[1] = syscall.Iovec{Base: &b[0]}
	r.iov[1].SetLen(len(b))
	r.niov, r.total, r.n, r.err = 0, len(a)+len(b), 0, 0
	err := r.rc.Write(r.writevFn)
	r.iov = [2]syscall.Iovec{}
	if err == nil && r.err != 0 {
		err = c.opError("writev", os.NewSyscallError("writev", r.err))
	}
	return err
}

func (r *rawIO) writevStep(fd uintptr) bool {
	for r.n < r.total {
		iov := r.iov[r.niov:]
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
		if e != 0 {
			if again, done := r.settle(e); !again {
				return done
			}
			continue
		}
		r.n += int(n)
		for left := int(n); left > 0; {
			v := &r.iov[r.niov]
			if l := int(v.Len); left < l {
				v.Base = (*byte)(unsafe.Add(unsafe.Pointer(v.Base), left))
				v.SetLen(l - left)
				break
			} else {
				left -= l
				r.niov++
			}
		}
	}
	return true
}

func (c *conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.rwc.LocalAddr(), Addr: c.rwc.RemoteAddr(), Err: err}
}
