//go:build unix

package storage

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// lockFile takes the exclusive flock that bbolt takes on its file (the
// same kind of lock, so each excludes the other), waiting up to timeout;
// ErrLocked if another process keeps it. A missing file needs no lock.
func lockFile(path string, timeout time.Duration) (unlock func(), err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return func() {}, nil
	}
	if err != nil {
		return nil, err
	}
	fd := int(f.Fd())
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return func() { _ = f.Close() }, nil // closing releases the lock
		case !errors.Is(err, syscall.EWOULDBLOCK):
			_ = f.Close()
			return nil, &os.PathError{Op: "flock", Path: path, Err: err}
		case time.Now().After(deadline):
			_ = f.Close()
			return nil, ErrLocked
		}
		time.Sleep(lockRetry) // bbolt polls its lock the same way
	}
}

// lockRetry is how often lockFile tries the lock again.
const lockRetry = 50 * time.Millisecond

// mapFile maps the first size bytes of f for reading.
func mapFile(f *os.File, size int64) (data []byte, unmap func(), err error) {
	if size <= 0 || int64(int(size)) != size {
		return nil, nil, errors.New("cannot map")
	}
	data, err = syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return data, func() { _ = syscall.Munmap(data) }, nil
}
