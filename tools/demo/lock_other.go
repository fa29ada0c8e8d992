//go:build !unix

package main

// lockData does nothing where flock(2) is missing: the port check still
// refuses a second demo before it opens any log.
func lockData(string) (unlock func(), err error) { return func() {}, nil }
