package engine_test

import (
	"testing"

	"github.com/maidhq/maid/engine/enginetest"
	"github.com/maidhq/maid/sandbox"
	"github.com/maidhq/maid/sandbox/process"
)

func TestProcessBackend(t *testing.T) {
	enginetest.Run(t, func(t *testing.T) sandbox.Backend {
		b, err := process.New(process.Config{})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

// processBackend starts the process backend (python3 on the host) for
// one test; it is closed when the test ends.
func processBackend(t testing.TB) *process.Backend {
	t.Helper()
	b, err := process.New(process.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}
