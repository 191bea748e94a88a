//go:build !unix

package main

// lockFile is a no-op where flock does not exist: the single-instance check
// is then not made.
func lockFile(path string) (release func(), err error) { return func() {}, nil }
