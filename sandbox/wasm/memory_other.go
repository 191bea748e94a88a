//go:build !linux

package wasm

import "errors"

// Elsewhere guest memory is a Go slice (see limitedMemory).
func reserve(uint64) ([]byte, error) { return nil, errors.New("no mmap reservation on this platform") }
func commit([]byte) error            { return errors.New("unreachable") }
func release([]byte) error           { return nil }
func populate([]byte)                {}
