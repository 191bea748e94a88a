package process_test

import (
	"testing"

	"github.com/maidhq/maid/sandbox"
	"github.com/maidhq/maid/sandbox/process"
	"github.com/maidhq/maid/sandbox/sandboxtest"
)

func TestConformance(t *testing.T) {
	sandboxtest.Run(t, func(t *testing.T) sandbox.Backend {
		b, err := process.New(process.Config{})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}, sandboxtest.Options{Isolated: false})
}
