//go:build !unix

package storage

import (
	"io"
	"os"
)

// openRegular opens the regular file at p for reading.
func openRegular(p string) (*os.File, error) { return os.Open(p) }

// rewind moves f's offset to its start.
func rewind(f *os.File) error {
	_, err := f.Seek(0, io.SeekStart)
	return err
}
