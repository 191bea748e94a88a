//go:build unix

package wasm

import (
	"math"
	"syscall"
)

// hostFileLimit is how many descriptors maid may hold open: the soft
// RLIMIT_NOFILE (which Go raises to the hard limit at start).
func hostFileLimit() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(lim.Cur)
}
