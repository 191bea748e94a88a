package engine_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/engine/enginetest"
	"github.com/maidhq/maid/internal/plugintest"
)

// TestInstanceCaps: a manifest's "instances": "per_server" multiplies a
// plugin's instances (and memory) by its servers (attack F7); the operator
// denies it (one instance for all servers, said in the plugin's log) or
// caps the instances running on the host (a start past the cap is refused
// with ErrLimit and logged).
func TestInstanceCaps(t *testing.T) {
	b := processBackend(t)
	dir := plugintest.WriteFiles(t, map[string]string{
		"manifest.json": `{"id": "hog", "name": "Hog", "instances": "per_server"}`,
		"__main__.py": `import os
from maid_sdk import Plugin
plugin = Plugin()

@plugin.on_dashboard("pid")
def pid(ctx, params):
    return {"pid": os.getpid()}

plugin.run()
`,
	})
	servers := []string{"1", "2", "3"}
	pids := func(env *enginetest.Env) (got []float64, errs []error) {
		for _, s := range servers {
			out, err := env.CallErr("hog", s, "pid", nil)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if p := out["pid"].(float64); !slices.Contains(got, p) {
				got = append(got, p)
			}
		}
		return got, errs
	}
	hostLog := func(env *enginetest.Env, want string) bool {
		logs, err := env.Engine.Logs("hog", 100)
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(logs, func(l engine.LogLine) bool { return l.Source == "host" && strings.Contains(l.Text, want) })
	}

	t.Run("allowed", func(t *testing.T) {
		env := enginetest.Start(t, b, enginetest.Options{})
		env.Install(t, dir, servers...)
		if got, errs := pids(env); len(got) != 3 || errs != nil {
			t.Fatalf("per_server allowed: %d instances, errors %v; want 3", len(got), errs)
		}
	})
	t.Run("denied", func(t *testing.T) {
		env := enginetest.Start(t, b, enginetest.Options{DenyPerServer: true})
		env.Install(t, dir, servers...)
		if got, errs := pids(env); len(got) != 1 || errs != nil {
			t.Fatalf("per_server denied: %d instances, errors %v; want 1", len(got), errs)
		}
		if !hostLog(env, "--per-server deny") {
			t.Fatal("the plugin's log does not say its per_server was denied")
		}
	})
	t.Run("capped", func(t *testing.T) {
		env := enginetest.Start(t, b, enginetest.Options{MaxInstances: 2})
		env.Install(t, dir, servers...)
		got, errs := pids(env)
		if len(got) != 2 || len(errs) != 1 || !errors.Is(errs[0], engine.ErrLimit) || !strings.Contains(errs[0].Error(), "--max-instances") {
			t.Fatalf("capped at 2: %d instances, errors %v; want 2 and one ErrLimit naming --max-instances", len(got), errs)
		}
		if n := env.Engine.Stats().Instances; n != 2 {
			t.Fatalf("running instances %d, want 2", n)
		}
		if !hostLog(env, "maximum of 2 plugin instances") {
			t.Fatal("the refusal is not in the plugin's log")
		}
	})
}
