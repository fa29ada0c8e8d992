//go:build unix

package storage

import (
	"errors"
	"io"
	"os"
	"runtime"
	"syscall"
)

// openRegular opens the regular file at p for reading. os.Open would try
// to add the descriptor to the network poller (four fcntl calls and an
// epoll_ctl that fails for a regular file, on every hit); a file made with
// os.NewFile from a plain open(2) skips that and still goes out with
// sendfile(2).
func openRegular(p string) (*os.File, error) {
	for {
		fd, err := syscall.Open(p, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err == nil {
			return os.NewFile(uintptr(fd), p), nil
		}
		if !errors.Is(err, syscall.EINTR) {
			return nil, &os.PathError{Op: "open", Path: p, Err: err}
		}
	}
}

// rewind moves f's offset to its start. f is a file openRegular made: a
// regular file in blocking mode, on which Fd changes nothing. The lseek(2)
// is a raw system call: it never waits, and one made through
// syscall.Syscall wakes the runtime's monitor thread when every P was
// idle, which then looks every 20 µs for a millisecond (see
// internal/rawio).
func rewind(f *os.File) error {
	_, _, errno := syscall.RawSyscall(syscall.SYS_LSEEK, f.Fd(), 0, uintptr(io.SeekStart))
	runtime.KeepAlive(f)
	if errno != 0 {
		return &os.PathError{Op: "seek", Path: f.Name(), Err: errno}
	}
	return nil
}
