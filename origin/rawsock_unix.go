//go:build unix

package origin

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"

	"edged/internal/rawio"
)

// rawSockets reports whether upstream connections have a rawSocket.
const rawSockets = true

// rawSocket gives an upstream connection two things net.Conn does not: a
// read whose bytes are handled in the same critical section as the system
// call that took them from the kernel, and a look at whether the kernel
// holds received bytes nobody has read yet. Together they let a request's
// first write know that every byte that arrived before it has been seen.
type rawSocket struct {
	conn net.Conn
	rc   syscall.RawConn
	mu   *sync.Mutex    // held across each read system call and got
	got  func(b []byte) // sees the bytes of each read, with mu held

	// The current read, kept here so that reading allocates nothing.
	p      []byte
	n      int
	serr   error
	readFn func(fd uintptr) bool

	// The current look (pending), kept here for the same reason: a
	// closure made per look cost two allocations a request (#17). Looks
	// run with mu held, so one at a time.
	peekBuf   [12]byte // what is408 needs to see
	peekLen   int      // how many bytes to look at
	peekN     int
	peekAvail bool
	peekFn    func(fd uintptr)
}

// rawSocketOf returns the raw socket of a TCP connection, or nil. Each read
// calls got with the bytes read, holding mu.
func rawSocketOf(c net.Conn, mu *sync.Mutex, got func(b []byte)) *rawSocket {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	s := &rawSocket{conn: c, rc: rc, mu: mu, got: got}
	s.readFn = s.readOnce
	s.peekFn = s.peekOnce
	return s
}

// read reads into p like net.Conn.Read (waiting for data, honouring
// deadlines), holding mu across the system call and got. Reads must not
// run concurrently.
func (s *rawSocket) read(p []byte) (int, error) {
	s.p, s.n, s.serr = p, 0, nil
	err := s.rc.Read(s.readFn)
	n, serr := s.n, s.serr
	s.p = nil
	switch {
	case err != nil:
		return 0, err
	case serr != nil:
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: s.conn.LocalAddr(), Addr: s.conn.RemoteAddr(), Err: os.NewSyscallError("read", serr)}
	case n <= 0:
		return 0, io.EOF
	}
	return n, nil
}

func (s *rawSocket) readOnce(fd uintptr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		s.n, s.serr = rawio.Read(fd, s.p) // unseen by the scheduler: see rawio
		if s.serr != syscall.EINTR {
			break
		}
	}
	if s.serr == syscall.EAGAIN {
		return false // wait until readable
	}
	if s.n > 0 {
		s.got(s.p[:s.n])
	}
	return true
}

// pending reports whether the kernel holds received bytes not yet read,
// copying the first of them into b (at least one byte is looked at, at
// most 12). It
// never blocks and does not disturb a read waiting on the socket. mu must
// be held.
func (s *rawSocket) pending(b []byte) (n int, avail bool) {
	s.peekLen, s.peekN, s.peekAvail = min(max(len(b), 1), len(s.peekBuf)), 0, false
	_ = s.rc.Control(s.peekFn)
	return copy(b, s.peekBuf[:s.peekN]), s.peekAvail
}

func (s *rawSocket) peekOnce(fd uintptr) {
	for {
		// The socket is non-blocking (Go's netpoller), so an empty
		// receive queue answers EAGAIN at once.
		k, err := rawio.Peek(fd, s.peekBuf[:s.peekLen])
		if err == syscall.EINTR {
			continue
		}
		if err == nil && k > 0 {
			s.peekN, s.peekAvail = k, true
		}
		return
	}
}
