//go:build race

package store

// The race detector multiplies memory use (shadow memory): memory bounds
// scale by this factor.
const memFactor = 4

// Time bounds scale by this factor: the race detector slows Go code, and
// SQLite is Go code here.
const timeFactor = 5
const raceEnabled = true
