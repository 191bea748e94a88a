//go:build !race

package store

const memFactor = 1
