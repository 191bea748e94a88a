//go:build !linux

package wasm

import (
	"io/fs"
	"os"
)

// beneathDir is Linux's openat2 resolver; elsewhere roFS uses os.Root.
type beneathDir struct{}

func openBeneath(string) *beneathDir { return nil }

func (d *beneathDir) open(string, int) (*os.File, error) { return nil, fs.ErrInvalid }

func (d *beneathDir) stat(string, bool) (fs.FileInfo, error) { return nil, fs.ErrInvalid }

func (d *beneathDir) readlink(string) (string, error) { return "", fs.ErrInvalid }

func (d *beneathDir) close() error { return nil }
