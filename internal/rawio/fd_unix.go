//go:build unix && !linux

package rawio

import "syscall"

// Read is one read(2) of fd, through syscall.Read on this platform.
func Read(fd uintptr, p []byte) (int, error) { return syscall.Read(int(fd), p) }

// Peek is one recv(2) of fd with MSG_PEEK|MSG_DONTWAIT, through
// syscall.Recvfrom on this platform.
func Peek(fd uintptr, p []byte) (int, error) {
	n, _, err := syscall.Recvfrom(int(fd), p, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return n, err
}
