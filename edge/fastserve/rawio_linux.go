//go:build linux

package fastserve

import (
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawIO makes a connection's reads, writes and sendfiles as raw system
// calls, through the connection's syscall.RawConn (which waits on the
// network poller when the socket is not ready, and keeps its deadlines).
//
// Why: the socket is non-blocking, so none of these calls waits, but one
// made through syscall.Syscall tells the scheduler it might. When every P
// of the process was idle (a server waiting for its clients), that wakes
// the runtime's monitor thread (sysmon), which then looks every 20 µs for
// a millisecond before it slows down again; under a load that keeps the
// process going idle and busy, that is a context switch every 20 µs.
type rawIO struct {
	rc syscall.RawConn

	buf []byte // read: into; write: from
	n   int
	err syscall.Errno

	iov   [2]syscall.Iovec // writev
	niov  int
	total int

	src    int   // sendfile: the file
	remain int64 // sendfile: bytes left
	sent   int64
	cached bool // sendfile: all of it is in the page cache
	check  bool // sendfile: ask cachestat

	readFn, writeFn, writevFn, sendFn func(uintptr) bool
	fileFn                            func(uintptr)
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
	r.readFn, r.writeFn, r.writevFn, r.sendFn, r.fileFn = r.readStep, r.writeStep, r.writevStep, r.sendStep, r.file
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
		switch e {
		case 0:
			r.n = int(n)
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		r.err = e
		return true
	}
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
		switch e {
		case 0:
			r.n += int(n)
			continue
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		r.err = e
		return true
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
		switch e {
		case 0:
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		default:
			r.err = e
			return true
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

// sendFile sends up to n bytes of f from its offset with sendfile(2), as
// net/http's ReadFrom would, and reports whether it could (a TCP
// connection and a file).
//
// The sendfile is raw only when f's pages are in the page cache: reading
// pages from the disk does wait, and a raw system call keeps its P for as
// long (nothing else runs on it, and a stop-the-world of the collector
// waits for it). cachestat(2) tells, and what it found is kept for a
// second (cachedFiles), as the check costs two system calls, about what
// the raw sendfile saves. Otherwise, and on kernels without cachestat
// (before Linux 6.5), the sendfile is an ordinary system call, which the
// scheduler can hand the P away from.
func (c *conn) sendFile(f *os.File, n int64) (int64, error, bool) {
	r := &c.raw
	if r.rc == nil {
		return 0, nil, false
	}
	sc, err := f.SyscallConn()
	if err != nil {
		return 0, nil, false
	}
	now := time.Since(epoch)
	r.src, r.remain, r.sent, r.err = -1, n, 0, 0
	r.cached = c.srv.cached.recent(f, now)
	r.check = !r.cached
	if sc.Control(r.fileFn) != nil || r.src < 0 {
		return 0, nil, false
	}
	if r.check && r.cached {
		c.srv.cached.add(f, now)
	}
	if testHookSendfile != nil {
		testHookSendfile(r.cached)
	}
	err = r.rc.Write(r.sendFn)
	if err == nil && r.err != 0 {
		err = c.opError("sendfile", os.NewSyscallError("sendfile", r.err))
	}
	runtime.KeepAlive(f)
	return r.sent, err, true
}

// file is the Control callback of sendFile: it notes the file's
// descriptor and, if r.check, whether the bytes to send are all in the
// page cache.
func (r *rawIO) file(fd uintptr) {
	r.src = int(fd)
	if !r.check || noCachestat.Load() {
		return
	}
	off, _, e := syscall.RawSyscall(syscall.SYS_LSEEK, fd, 0, uintptr(io.SeekCurrent))
	if e != 0 {
		return
	}
	rng := unix.CachestatRange{Off: uint64(off), Len: uint64(r.remain)}
	var st unix.Cachestat_t
	_, _, e = syscall.RawSyscall6(unix.SYS_CACHESTAT, fd, uintptr(unsafe.Pointer(&rng)), uintptr(unsafe.Pointer(&st)), 0, 0, 0)
	if e == syscall.ENOSYS {
		noCachestat.Store(true)
		return
	}
	ps := uint64(pageSize)
	first, end := rng.Off/ps, (rng.Off+rng.Len+ps-1)/ps
	r.cached = e == 0 && st.Cache >= end-first
}

// cachedFiles are the files whose pages cachestat found in the page cache
// within the last cachedFor, by when. A file sent that lately was read
// then, and its pages leave the cache sooner only under memory pressure
// (a raw sendfile then waits for the disk once). The *os.File is the
// key: the store lends the same one to hit after hit, and the map's
// reference keeps a closed one's address from being reused.
type cachedFiles struct {
	mu sync.Mutex
	at map[*os.File]time.Duration
}

// cachedFor is how long a file found in the page cache is taken to be.
const cachedFor = time.Second

// maxCachedFiles bounds cachedFiles: past it, the map starts again.
const maxCachedFiles = 4096

// epoch is the origin of cachedFiles' times (monotonic).
var epoch = time.Now()

func (m *cachedFiles) recent(f *os.File, now time.Duration) bool {
	m.mu.Lock()
	at, ok := m.at[f]
	m.mu.Unlock()
	return ok && now-at < cachedFor
}

func (m *cachedFiles) add(f *os.File, now time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.at == nil || len(m.at) >= maxCachedFiles {
		m.at = make(map[*os.File]time.Duration)
	}
	m.at[f] = now
}

// testHookSendfile, when set, learns whether each sendFile is raw.
var testHookSendfile func(cached bool)

// noCachestat: the kernel has no cachestat(2).
var noCachestat atomic.Bool

var pageSize = os.Getpagesize()

// maxSendfile is the most one sendfile(2) is asked for (internal/poll's
// maxSendfileSize).
const maxSendfile = 4 << 20

func (r *rawIO) sendStep(fd uintptr) bool {
	for r.remain > 0 {
		var n uintptr
		var e syscall.Errno
		if r.cached {
			n, _, e = syscall.RawSyscall6(syscall.SYS_SENDFILE, fd, uintptr(r.src), 0, uintptr(min(r.remain, maxSendfile)), 0, 0)
		} else {
			n, _, e = syscall.Syscall6(syscall.SYS_SENDFILE, fd, uintptr(r.src), 0, uintptr(min(r.remain, maxSendfile)), 0, 0)
		}
		switch e {
		case 0:
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		default:
			r.err = e
			return true
		}
		if n == 0 {
			return true // the file ended early
		}
		r.sent += int64(n)
		r.remain -= int64(n)
	}
	return true
}

func (c *conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.rwc.LocalAddr(), Addr: c.rwc.RemoteAddr(), Err: err}
}
