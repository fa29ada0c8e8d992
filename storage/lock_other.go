//go:build !unix

package storage

import (
	"errors"
	"os"
	"time"
)

// lockFile does nothing where flock is missing: bbolt's own lock (taken
// after checkFile) still refuses a second process.
func lockFile(string, time.Duration) (func(), error) { return func() {}, nil }

// mapFile is not available: checkFile reads the file instead.
func mapFile(*os.File, int64) ([]byte, func(), error) { return nil, nil, errors.New("no mmap") }
