package docker

import (
	"testing"

	"github.com/maidhq/maid/engine/enginetest"
)

// TestVendoredPackages: a plugin's lib/ (a module and a package) imports in
// the container as on the other backends, both with the plugin dir mounted
// and with its files sent in the boot line.
func TestVendoredPackages(t *testing.T) {
	enginetest.Vendored(t, newTestBackend(t, Options{}))
}
