//go:build !unix

package storage

import "time"

// lockFile does nothing where flock is missing: bbolt's own lock (taken
// after checkFile) still refuses a second process.
func lockFile(string, time.Duration) (func(), error) { return func() {}, nil }
