package docker

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maidhq/maid/sandbox"
	"github.com/maidhq/maid/sandbox/sandboxtest"
)

// TestSDKSuiteInContainer runs the Python SDK's own test suite
// (sdk/python/tests) inside a hardened container: the image's slim Python
// must have everything the SDK and its plugins' runner need, under the
// read-only root, no network, dropped capabilities and the pids limit.
func TestSDKSuiteInContainer(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs the whole SDK suite")
	}
	b := newTestBackend(t, Options{})
	dir := t.TempDir()
	// fakehost.py puts the tests' parent dir on the plugin's PYTHONPATH,
	// so the SDK goes beside the tests.
	for _, sub := range []string{"tests", "maid_sdk"} {
		if err := os.CopyFS(filepath.Join(dir, sub), os.DirFS(filepath.Join("../../sdk/python", sub))); err != nil {
			t.Fatalf("copy %s: %v", sub, err)
		}
	}
	// test_spec.py reads the spec's plugin at tests/../../../plugin/
	// testdata/spec000, which from /plugin/tests is /plugin/testdata/spec000
	// (the parent of / is /).
	if err := os.CopyFS(filepath.Join(dir, "testdata", "spec000"), os.DirFS("../../plugin/testdata/spec000")); err != nil {
		t.Fatalf("copy spec000: %v", err)
	}
	// Any __pycache__ copied here is left out by tarDir.
	main := `import sys, unittest
suite = unittest.defaultTestLoader.discover("/plugin/tests", top_level_dir="/plugin/tests")
r = unittest.TextTestRunner(stream=sys.stderr, verbosity=1).run(suite)
from maid_sdk import _transport
out = _transport.stdout()
out.write(("ran=%d failures=%d errors=%d skipped=%d\n" % (r.testsRun, len(r.failures), len(r.errors), len(r.skipped))).encode())
out.flush()
sys.exit(0 if r.wasSuccessful() else 1)
`
	if err := os.WriteFile(filepath.Join(dir, "__main__.py"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	inst, err := b.Start(ctx, sandbox.Spec{
		Name: "sdk-tests", PluginID: "sdk-tests", Dir: dir, Entry: "__main__.py",
		Limits: sandbox.Limits{MemoryBytes: 1 << 30, ScratchBytes: 64 << 20, Pids: 256, CPUs: float64(min(2, max(b.ncpu, 1)))},
	})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	defer inst.Kill()
	out, stderr, ex, err := sandboxtest.Finish(ctx, inst)
	if err != nil || ex.Code != 0 || !strings.Contains(out, "failures=0 errors=0") {
		t.Fatalf("sdk suite in container: %s (exit %v, %v)\n%s", out, ex, err, stderr)
	}
	t.Logf("sdk suite in container: %s", strings.TrimSpace(out))
}
