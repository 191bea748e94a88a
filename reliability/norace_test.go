//go:build !race

package reliability

const memFactor = 1
