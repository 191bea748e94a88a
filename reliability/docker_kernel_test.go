package reliability

import (
	"testing"
	"time"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/internal/testenv"
)

// TestDockerKernelSurface: issue 14, finding 9, through the engine: a
// plugin in a docker container cannot set up an io_uring, write twice the
// scratch cap into /dev/shm, create a queue in /dev/mqueue, or read the host
// paths of its volumes from mountinfo; the bystander is unharmed. (The
// same from inside a bare container, one subtest each, is
// TestHardeningKernelSurface in sandbox/docker.)
func TestDockerKernelSurface(t *testing.T) {
	var ran bool
	for _, nb := range isolatedBackends(t) {
		if nb.name != "docker" {
			continue // ctypes and /dev are docker's; wasm has neither
		}
		ran = true
		t.Run(nb.name, func(t *testing.T) {
			lim := testLimits()
			lim.DashboardTimeout = 30 * time.Second
			w := startWorld(t, nb.b, lim)
			id := w.Install(t, hostile("docker_kernel"), "1")
			scratchMB := int(engine.DefaultLimits.ScratchBytes>>20) * 2
			res := w.Call(t, id, "1", "probe", map[string]any{"scratch_mb": scratchMB})
			t.Logf("%v", res)
			for _, k := range []string{"io_uring_setup", "dev_shm_flood", "dev_mqueue_create", "mountinfo_host_paths"} {
				r, ok := res[k].(map[string]any)
				if !ok {
					t.Fatalf("%s: no answer in %v", k, res)
				}
				if r["ok"] == true {
					t.Errorf("%s worked: %v", k, r["value"])
				}
			}
			w.goodAnswers(t)
		})
	}
	if !ran {
		testenv.Unavailable(t, "docker backend", "start dockerd, make docker-image, and keep docker in MAID_RELIABILITY_BACKENDS", nil)
	}
}
