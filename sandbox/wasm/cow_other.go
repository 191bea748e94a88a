//go:build !linux

package wasm

import "errors"

// cowImage exists only on Linux (memfd); elsewhere a restore copies the
// snapshot's pages, as before.
type cowImage struct {
	size uint64
	name string
}

func newCowImage(uint64, []chunk) (*cowImage, error) {
	return nil, errors.New("copy-on-write snapshots need Linux (memfd)")
}

func (*cowImage) mapOver([]byte) error { return errors.New("unreachable") }
func (*cowImage) close() error         { return nil }

// privateBytes: without pagemap, all of b counts as the instance's own.
func privateBytes(b []byte) (int64, error) { return int64(len(b)), nil }
