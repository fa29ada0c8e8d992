//go:build linux && race

package rawio

import "syscall"

// Under the race detector the system calls go through package syscall,
// whose annotations order a write before the read that returns its bytes
// (without them the detector reports every handler that a test's client
// observes through the socket); the scheduler then sees them as it sees
// net.Conn's.

func sysRead(fd uintptr, p []byte) (int, syscall.Errno) {
	n, err := syscall.Read(int(fd), p)
	return n, errnoOf(err)
}

func sysWrite(fd uintptr, p []byte) (int, syscall.Errno) {
	n, err := syscall.Write(int(fd), p)
	return n, errnoOf(err)
}

// sysWritev writes the first of bufs with syscall.Write (which has the
// annotations writev has not); the caller writes the rest next, as after
// a short writev.
func sysWritev(fd uintptr, _ []syscall.Iovec, bufs [][]byte) (int, syscall.Errno) {
	for _, b := range bufs {
		if len(b) > 0 {
			return sysWrite(fd, b)
		}
	}
	return 0, 0
}

func sysPeek(fd uintptr, p []byte) (int, syscall.Errno) {
	n, _, err := syscall.Recvfrom(int(fd), p, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return n, errnoOf(err)
}

func errnoOf(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	if e, ok := err.(syscall.Errno); ok {
		return e
	}
	return syscall.EIO
}
