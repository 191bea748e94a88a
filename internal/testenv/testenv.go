// Package testenv decides, in one place, what a test does when a real
// dependency it needs (Docker, PostgreSQL, Chromium, python.wasm, python3)
// is missing: under CI=true it fails, because CI must run every test;
// elsewhere it skips, naming the fix, so a laptop without Docker can still
// run the rest.
package testenv

import (
	"os"
	"testing"
)

// CI reports whether the tests run under CI (CI=true), where every
// dependency is required.
func CI() bool { return os.Getenv("CI") == "true" }

// Unavailable stops the test because what is missing: t.Fatal under CI,
// t.Skip elsewhere. fix says how to provide it; err (may be nil) says why
// it is unavailable.
func Unavailable(t testing.TB, what, fix string, err error) {
	t.Helper()
	msg := what + " unavailable (" + fix + ")"
	if err != nil {
		msg += ": " + err.Error()
	}
	if CI() {
		t.Fatal(msg + "; CI=true requires it")
		return
	}
	t.Skip(msg)
}
