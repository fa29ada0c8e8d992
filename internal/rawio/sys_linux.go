//go:build linux && !race

package rawio

import (
	"syscall"
	"unsafe"
)

// The system calls themselves, made with syscall.RawSyscall: the
// scheduler does not see them (see the package doc). Under the race
// detector they go through package syscall instead (sys_race.go), whose
// annotations tell the detector that a read follows the write whose
// bytes it returns.

func sysRead(fd uintptr, p []byte) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(bufBase(p)), uintptr(len(p)))
	return int(n), e
}

func sysWrite(fd uintptr, p []byte) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(bufBase(p)), uintptr(len(p)))
	return int(n), e
}

// sysWritev writes the buffers iov describes (bufs, the same bytes, are
// for sys_race.go).
func sysWritev(fd uintptr, iov []syscall.Iovec, _ [][]byte) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
	return int(n), e
}

func sysPeek(fd uintptr, p []byte) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(bufBase(p)), uintptr(len(p)), syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	return int(n), e
}

func bufBase(p []byte) unsafe.Pointer {
	if len(p) == 0 {
		return nil
	}
	return unsafe.Pointer(&p[0])
}
