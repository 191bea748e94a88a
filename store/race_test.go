//go:build race

package store

// The race detector multiplies memory use (shadow memory): memory bounds
// scale by this factor.
const memFactor = 4
