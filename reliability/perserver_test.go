package reliability

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/maidhq/maid/engine/enginetest"
	"github.com/maidhq/maid/plugin"
)

// TestPerServerInstances: a plugin that keeps a module global, run one
// instance per (plugin, server), never lets one server see another's
// value, whether its manifest asks for it or the operator imposes it. The
// control case (one instance for all servers) shows the same global does
// mix servers, so the test can fail.
func TestPerServerInstances(t *testing.T) {
	src := filepath.Join("testdata", "perserver")
	// The same plugin without "instances": the operator decides.
	plain := filepath.Join(t.TempDir(), "perserver")
	if err := os.MkdirAll(plain, 0o755); err != nil {
		t.Fatal(err)
	}
	code, err := os.ReadFile(filepath.Join(src, "__main__.py"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plain, "__main__.py"), code, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plain, "manifest.json"), []byte(`{"id": "perserver", "name": "Per-server globals", "version": "1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		dir       string
		operator  string
		separated bool
	}{
		{name: "manifest asks per_server", dir: src, separated: true},
		{name: "manifest asks, operator says per_plugin", dir: src, operator: plugin.InstancesPerPlugin, separated: true},
		{name: "operator imposes per_server", dir: plain, operator: plugin.InstancesPerServer, separated: true},
		{name: "control: one instance for all", dir: plain, separated: false},
	}
	sideBySide(t, backends(t), func(t *testing.T, nb namedBackend) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				env := enginetest.Start(t, nb.b, enginetest.Options{Limits: testLimits(), Instances: tc.operator})
				id := env.Install(t, tc.dir, "1", "2")
				env.Dispatch(t,
					enginetest.Message("1", "11", "one-a"), enginetest.Message("2", "21", "two-a"),
					enginetest.Message("1", "12", "one-b"), enginetest.Message("2", "22", "two-b"),
				)
				for _, srv := range []string{"1", "2"} {
					heard := env.Call(t, id, srv, "heard", nil)["heard"].([]any)
					mixed := false
					for _, h := range heard {
						pair := h.([]any)
						if pair[0] != srv {
							mixed = true
						}
					}
					if tc.separated && (mixed || len(heard) != 2) {
						t.Errorf("server %s's instance heard %v, want its own 2 messages only", srv, heard)
					}
					if !tc.separated && (!mixed || len(heard) != 4) {
						t.Errorf("control: server %s's call heard %v, want all 4 messages of both servers in one global", srv, heard)
					}
				}
				want := int64(1)
				if tc.separated {
					want = 2
				}
				if got := env.Engine.Stats().Instances; got != want {
					t.Errorf("running instances = %d, want %d", got, want)
				}
				if t.Failed() {
					logs, _ := env.Engine.Logs(id, 20)
					t.Log(fmt.Sprint(logs))
				}
			})
		}
	})
}
