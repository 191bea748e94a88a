package reliability

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maidhq/maid/internal/memtest"

	"github.com/maidhq/maid/internal/testenv"
)

// wasmBackend is the wasm backend alone: the file system attacks below
// target its mounts (issue 14, findings 1 and 2).
func wasmBackend(t *testing.T) namedBackend {
	for _, nb := range backends(t) {
		if nb.name == "wasm" {
			return nb
		}
	}
	testenv.Unavailable(t, "wasm backend", "make python-wasm, and keep wasm in MAID_RELIABILITY_BACKENDS", nil)
	return namedBackend{}
}

// TestWasmFSEscape: a plugin tries every way out of its files (symbolic
// and hard links, "..", renames across mounts, creating or emptying files
// in the read-only mounts): nothing outside is read or written, and the
// plugin's, the SDK's and the stdlib's files are unchanged.
func TestWasmFSEscape(t *testing.T) {
	nb := wasmBackend(t)
	w := startWorld(t, nb.b, testLimits())
	id := w.Install(t, hostile("fsescape"), "1")
	pkg, _ := w.Engine.Plugin(id)
	mainPy := filepath.Join(pkg.Dir, "__main__.py")
	before, err := os.ReadFile(mainPy)
	if err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.txt")
	if err := os.WriteFile(secret, []byte("host secret 91ab"), 0o644); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(outside, "PWNED")
	// wasm.New's stdlib and SDK dirs, as helpers_test.go configures them.
	cache, _ := os.UserCacheDir()
	sdkPwned, _ := filepath.Glob(filepath.Join(cache, "maid", "wasm-test", "sdk", "*", "PWNED"))
	if len(sdkPwned) > 0 {
		t.Fatalf("left over from an earlier run: %v", sdkPwned)
	}

	res := w.Call(t, id, "1", "escape", map[string]any{"secret": secret, "write": target})
	if len(res) < 20 {
		t.Fatalf("only %d attempts reported: %v", len(res), res)
	}
	for name, v := range res {
		r := v.(map[string]any)
		t.Logf("%s: %.160v", name, r)
		if r["ok"] == true {
			t.Errorf("%s: worked: %.200v", name, r["value"])
		}
		if strings.Contains(fmt.Sprint(r), "host secret 91ab") {
			t.Errorf("%s: read the host's file", name)
		}
	}
	created := []string{target, filepath.Join(pkg.Dir, "PWNED"), filepath.Join(pkg.Dir, "r"), filepath.Join(pkg.Dir, "x.py"),
		filepath.Join(repoRoot(), "build", "python-wasi", "usr", "local", "PWNED")}
	sdkPwned, _ = filepath.Glob(filepath.Join(cache, "maid", "wasm-test", "sdk", "*", "PWNED"))
	for _, p := range append(created, sdkPwned...) {
		if _, err := os.Lstat(p); err == nil {
			_ = os.RemoveAll(p)
			t.Errorf("%s was created on the host", p)
		}
	}
	if after, err := os.ReadFile(mainPy); err != nil || string(after) != string(before) {
		t.Errorf("the plugin's own file changed on the host (%v, %d bytes, was %d)", err, len(after), len(before))
	}
	if _, err := os.Stat(filepath.Join(repoRoot(), "build", "python-wasi", "usr", "local", "lib", "python3.11", "os.pyc")); err != nil {
		t.Errorf("stdlib file removed: %v", err)
	}
	w.goodAnswers(t)
}

// TestWasmScratchIsolated: one instance's /tmp is invisible to another
// (a second plugin, identical but for its id, runs in another instance).
func TestWasmScratchIsolated(t *testing.T) {
	nb := wasmBackend(t)
	w := startWorld(t, nb.b, testLimits())
	id := w.Install(t, hostile("fsescape"), "1")
	twin := t.TempDir()
	for _, name := range []string{"__main__.py", "manifest.json"} {
		data, err := os.ReadFile(filepath.Join(hostile("fsescape"), name))
		if err != nil {
			t.Fatal(err)
		}
		data = []byte(strings.Replace(string(data), `"h-fsescape"`, `"h-fsescape-twin"`, 1))
		if err := os.WriteFile(filepath.Join(twin, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	twinID := w.Install(t, twin, "1")
	if twinID == id {
		t.Fatalf("twin installed as %s too", id)
	}
	token := fmt.Sprintf("tok%d", time.Now().UnixNano())
	planted, err := w.callRaw(t.Context(), id, "1", "plant", map[string]any{"token": token})
	if err != nil || !strings.Contains(string(planted), token) {
		t.Fatalf("plant: %s, %v", planted, err)
	}
	res := w.Call(t, twinID, "1", "peek", map[string]any{"token": token})
	if ls := fmt.Sprint(res["ls"]); strings.Contains(ls, token) {
		t.Fatalf("another instance lists the first's scratch: %s", ls)
	}
	if r := res["read"].(map[string]any); r["ok"] == true {
		t.Fatalf("another instance read the first's scratch file: %v", r)
	}
	// The planting instance still has it: the file was really there.
	again := w.Call(t, id, "1", "peek", map[string]any{"token": token})
	if r := again["read"].(map[string]any); r["ok"] != true || r["value"] != token {
		t.Fatalf("the planting instance lost its file: %v", r)
	}
}

// TestWasmScratchQuota: the quota counts what scratch really holds. A
// sparse file cannot be written far past the quota (so unlinking one
// refunds nothing it did not charge), bytes held at once stop at the
// quota, and empty files and dirs are counted and bounded.
func TestWasmScratchQuota(t *testing.T) {
	nb := wasmBackend(t)
	lim := testLimits()
	lim.DashboardTimeout = 60 * time.Second
	const scratch = 4 << 20
	lim.ScratchBytes = scratch
	w := startWorld(t, nb.b, lim)
	id := w.Install(t, hostile("fsescape"), "1", "2")
	rss := memtest.RSS()

	sp := w.Call(t, id, "1", "sparse", map[string]any{"rounds": 200})
	if wrote := sp["wrote"].(float64); wrote != 0 {
		t.Errorf("wrote a byte at 64 GiB %v times under a %d-byte quota (%v)", wrote, scratch, sp["errors"])
	}
	// Each file or dir costs 1 KiB of the quota, and there are at most 4096.
	raw, err := w.callRaw(t.Context(), id, "2", "inodes", map[string]any{"seconds": 5})
	if err != nil {
		t.Fatal(err)
	}
	var count int64
	fmt.Sscan(string(raw), &count)
	if count <= 0 || count > 4096 || count > scratch/1024 {
		t.Errorf("created %d empty files and dirs (quota %d bytes)", count, scratch)
	}
	raw, err = w.callRaw(t.Context(), id, "1", "flood", nil)
	if err != nil {
		t.Fatal(err)
	}
	var flooded int64
	fmt.Sscan(string(raw), &flooded)
	if flooded > scratch {
		t.Errorf("held %d bytes in scratch under a %d-byte quota", flooded, scratch)
	}
	if grew := memtest.RSS() - rss; grew > 4*scratch+64<<20 {
		t.Errorf("maid grew by %d MiB during the scratch attacks", grew>>20)
	}
	w.goodAnswers(t)
}
