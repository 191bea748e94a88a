//go:build !unix

package wasm

// hostFileLimit is how many descriptors maid may hold open: with no
// RLIMIT_NOFILE to read, a fixed guess.
func hostFileLimit() int { return 8192 }
