//go:build !race

package store

const memFactor = 1

const timeFactor = 1
const raceEnabled = false
