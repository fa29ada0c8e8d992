//go:build !unix

package storage

import "os"

// openRegular opens the regular file at p for reading.
func openRegular(p string) (*os.File, error) { return os.Open(p) }
