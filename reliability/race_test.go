//go:build race

package reliability

// The race detector multiplies memory use (shadow memory for every byte a
// wasm guest touches through Go): memory bounds scale by this factor.
const memFactor = 4
