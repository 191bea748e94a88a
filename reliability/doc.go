// Package reliability holds maid's reliability and security suite: hostile
// plugins (testdata/hostile), faults (killed instances, engine restarts,
// store errors), sustained load and fuzz targets, all run through the real
// engine on every sandbox backend where the protection applies.
//
// The tests are the package; this file only documents it. Short forms run
// in `make test`; MAID_STRESS=1 (`make stress`) selects the long forms and
// the disruptive faults (Docker engine restart). docs/security.md states
// what the tests prove, naming the test for each claim.
package reliability
