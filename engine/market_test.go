package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/engine/enginetest"
	"github.com/maidhq/maid/internal/plugintest"
	"github.com/maidhq/maid/plugin"
	"github.com/maidhq/maid/store"
)

// versioned is a plugin whose dashboard handler "who" answers its version,
// its option n and its KV counter, and whose event handler counts
// messages in KV.
func versioned(version, optionType string, caps ...string) map[string]string {
	if caps == nil {
		caps = []string{}
	}
	capsJSON, _ := json.Marshal(caps)
	def := `5`
	if optionType == "string" {
		def = `"five"`
	}
	return map[string]string{
		"manifest.json": fmt.Sprintf(`{"id": "vp", "name": "Versioned", "version": %q, "capabilities": %s,
			"options": [{"id": "n", "name": "N", "type": %q, "default": %s}]}`, version, capsJSON, optionType, def),
		"CHANGELOG.md": "## " + version + "\n- changes\n",
		"__main__.py": `from maid_sdk import Plugin
plugin = Plugin()

@plugin.on_event("message_create")
def count(ctx, event):
    ctx.kv.set("n", ctx.kv.get("n", 0) + 1)

@plugin.on_dashboard("who")
def who(ctx, params):
    return {"version": "` + version + `", "n": ctx.options.get("n"), "count": ctx.kv.get("n", 0)}

plugin.run()
`,
	}
}

func (r *rig) publish(t *testing.T, archive []byte, opt engine.PublishOptions) engine.PublishResult {
	t.Helper()
	res, err := r.eng.Publish(engine.WithActor(withTimeout(t, 2*time.Minute), "admin"), archive, opt)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	return res
}

func (r *rig) who(t *testing.T, server string) map[string]any {
	t.Helper()
	out, err := r.eng.CallDashboard(withTimeout(t, time.Minute), "vp", server, "who", nil)
	if err != nil {
		t.Fatalf("who on %s: %v", server, err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func (r *rig) auditActions(t *testing.T, q engine.AuditQuery) []string {
	t.Helper()
	entries, err := r.eng.Audit(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Action+" "+e.ServerID+" "+e.Version+" by "+e.Actor)
	}
	slices.Reverse(out)
	return out
}

// TestMarketConsentRollback: an update that adds a capability keeps every
// server on the previous version until one of its managers approves;
// rollback restores the previous version with the server's options and
// data; a changed option type resets the value and says so; the audit log
// shows each action by its actor and server.
func TestMarketConsentRollback(t *testing.T) {
	r := startEngine(t, engine.Limits{}, nil)
	ctx := engine.WithActor(withTimeout(t, 3*time.Minute), "user:42")
	res := r.publish(t, plugintest.Pack(t, versioned("1.0.0", "number", "storage:kv")), engine.PublishOptions{})
	if res.Version != "1.0.0" || res.Previous != "" {
		t.Fatalf("first publish: %+v", res)
	}
	for _, s := range []string{"1", "2"} {
		if err := r.eng.SetEnabled(ctx, s, "vp", true); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.eng.SetOptions(ctx, "1", "vp", map[string]json.RawMessage{"n": json.RawMessage("7")}); err != nil {
		t.Fatal(err)
	}
	enginetestDispatch(t, r, "1", 3)

	// 1.1.0 asks for discord:send_messages and changes n to a string.
	res = r.publish(t, plugintest.Pack(t, versioned("1.1.0", "string", "storage:kv", "discord:send_messages")), engine.PublishOptions{})
	if !slices.Equal(res.Pending, []string{"1", "2"}) || res.Previous != "1.0.0" {
		t.Fatalf("publish 1.1.0: pending %v previous %q, want both servers pending on 1.0.0", res.Pending, res.Previous)
	}
	for _, s := range []string{"1", "2"} {
		if got := r.who(t, s)["version"]; got != "1.0.0" {
			t.Fatalf("server %s runs %v before approval, want 1.0.0", s, got)
		}
		vs, err := r.eng.ServerVersion(ctx, s, "vp")
		if err != nil || vs.Running != "1.0.0" || vs.Latest != "1.1.0" || !slices.Equal(vs.Pending, []string{"discord:send_messages"}) {
			t.Fatalf("server %s version state %+v, %v", s, vs, err)
		}
	}
	enginetestDispatch(t, r, "1", 1) // events still go to 1.0.0
	if got := r.count(t, "vp", "1"); got != 4 {
		t.Fatalf("count %d, want 4", got)
	}

	// A manager of server 1 approves: 1 moves, 2 stays.
	if err := r.eng.Approve(ctx, "1", "vp"); err != nil {
		t.Fatal(err)
	}
	w1, w2 := r.who(t, "1"), r.who(t, "2")
	if w1["version"] != "1.1.0" || w2["version"] != "1.0.0" {
		t.Fatalf("after approval on 1: server 1 runs %v, server 2 runs %v", w1["version"], w2["version"])
	}
	if w1["n"] != "five" || w1["count"] != float64(4) {
		t.Fatalf("1.1.0 on server 1: %v (want n reset to the default \"five\", data kept)", w1)
	}

	// Rollback: 1.0.0 again, with n = 7 and the data.
	v, err := r.eng.Rollback(ctx, "1", "vp")
	if err != nil || v != "1.0.0" {
		t.Fatalf("rollback = %q, %v", v, err)
	}
	w1 = r.who(t, "1")
	if w1["version"] != "1.0.0" || w1["n"] != float64(7) || w1["count"] != float64(4) {
		t.Fatalf("after rollback: %v, want 1.0.0 with n 7 and count 4", w1)
	}
	if _, err := r.eng.Rollback(ctx, "1", "vp"); !errors.Is(err, engine.ErrInvalid) {
		t.Fatalf("rollback past the first version: %v, want ErrInvalid", err)
	}
	// Pinned: a new version with no new capability does not move it.
	r.publish(t, plugintest.Pack(t, versioned("1.2.0", "string", "storage:kv", "discord:send_messages")), engine.PublishOptions{})
	if got := r.who(t, "1")["version"]; got != "1.0.0" {
		t.Fatalf("pinned server moved to %v", got)
	}
	if err := r.eng.FollowLatest(ctx, "1", "vp"); err != nil {
		t.Fatal(err)
	}
	if got := r.who(t, "1")["version"]; got != "1.2.0" {
		t.Fatalf("after follow latest: %v, want 1.2.0 (its capabilities were approved)", got)
	}
	if got := r.who(t, "2")["version"]; got != "1.0.0" {
		t.Fatalf("server 2 runs %v, want 1.0.0 until approved", got)
	}

	want := []string{
		"publish  1.0.0 by admin",
		"enable 1 1.0.0 by user:42",
		"enable 2 1.0.0 by user:42",
		"options 1 1.0.0 by user:42",
		"publish  1.1.0 by admin",
		"approve 1 1.1.0 by user:42",
		"options_reset 1 1.1.0 by user:42",
		"rollback 1 1.0.0 by user:42",
		"publish  1.2.0 by admin",
		"follow_latest 1 1.2.0 by user:42",
	}
	if got := r.auditActions(t, engine.AuditQuery{All: true}); !slices.Equal(got, want) {
		t.Fatalf("audit log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	entries, _ := r.eng.Audit(ctx, engine.AuditQuery{ServerIDs: []string{"1"}})
	for _, e := range entries {
		if e.ServerID != "1" {
			t.Fatalf("server 1's audit view holds %+v", e)
		}
		if e.Action == "options_reset" && !strings.Contains(e.Detail, `n: 7 reset to "five"`) {
			t.Fatalf("reset detail %q", e.Detail)
		}
	}
}

func enginetestDispatch(t *testing.T, r *rig, server string, n int) {
	t.Helper()
	ctx := withTimeout(t, time.Minute)
	for i := 0; i < n; i++ {
		if err := r.eng.Dispatch(ctx, enginetest.Message(server, "7", "hi")); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.eng.Drain(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestMarketVersionRules: a lower version is refused unless forced, the
// same version with other content is refused, re-publishing the same
// package changes nothing.
func TestMarketVersionRules(t *testing.T) {
	r := startEngine(t, engine.Limits{}, nil)
	ctx := withTimeout(t, 3*time.Minute)
	r.publish(t, plugintest.Pack(t, versioned("1.1.0", "number")), engine.PublishOptions{})
	if res := r.publish(t, plugintest.Pack(t, versioned("1.1.0", "number")), engine.PublishOptions{}); !res.Unchanged {
		t.Fatalf("same package again: %+v, want Unchanged", res)
	}
	other := versioned("1.1.0", "number")
	other["extra.py"] = "x = 1\n"
	if _, err := r.eng.Publish(ctx, plugintest.Pack(t, other), engine.PublishOptions{}); !errors.Is(err, engine.ErrInvalid) || !strings.Contains(err.Error(), "already published with other content") {
		t.Fatalf("same version, other content: %v", err)
	}
	if _, err := r.eng.Publish(ctx, plugintest.Pack(t, versioned("1.0.0", "number")), engine.PublishOptions{}); !errors.Is(err, engine.ErrInvalid) || !strings.Contains(err.Error(), "lower than the latest") {
		t.Fatalf("downgrade: %v, want refused", err)
	}
	if res := r.publish(t, plugintest.Pack(t, versioned("1.0.0", "number")), engine.PublishOptions{Force: true}); res.Previous != "1.1.0" {
		t.Fatalf("forced downgrade: %+v", res)
	}
	vs, err := r.eng.Versions(ctx, "vp")
	if err != nil || len(vs) != 2 || vs[0].Version != "1.0.0" || vs[1].Version != "1.1.0" {
		t.Fatalf("history %+v, %v", vs, err)
	}
}

// TestMarketStartCheck: a package that cannot start is refused at upload
// with its traceback, nothing is installed; spec 004's example manifest
// uploads as written (no version: derived; script.js: a warning).
func TestMarketStartCheck(t *testing.T) {
	r := startEngine(t, engine.Limits{}, nil)
	ctx := withTimeout(t, 3*time.Minute)
	spec004, err := os.ReadFile(filepath.Join("..", "plugin", "testdata", "spec004", "plugin.json"))
	if err != nil {
		t.Fatal(err)
	}
	js := map[string]string{"plugin.json": string(spec004), "script.js": "// JavaScript\nconsole.log('hi');\n"}
	_, err = r.eng.Publish(ctx, plugintest.Pack(t, js), engine.PublishOptions{})
	var se *engine.StartError
	if !errors.As(err, &se) || !errors.Is(err, engine.ErrInvalid) {
		t.Fatalf("JavaScript script: %v, want a StartError", err)
	}
	out := strings.Join(se.Output, "\n")
	if !strings.Contains(out, "SyntaxError") || !strings.Contains(out, "Traceback") && !strings.Contains(out, "script.js") {
		t.Fatalf("start output %q, want the SyntaxError with its traceback", out)
	}
	if _, ok := r.eng.Plugin("my_example"); ok {
		t.Fatal("a plugin that cannot start was installed")
	}

	py := map[string]string{"plugin.json": string(spec004), "script.js": "from maid_sdk import Plugin\nplugin = Plugin()\nplugin.run()\n"}
	res, err := r.eng.Publish(ctx, plugintest.Pack(t, py), engine.PublishOptions{})
	if err != nil {
		t.Fatalf("spec 004's example: %v", err)
	}
	if !strings.HasPrefix(res.Version, "0+sha.") || len(res.Version) != 13 {
		t.Fatalf("derived version %q", res.Version)
	}
	if !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, "not a .py file") }) {
		t.Fatalf("warnings %q, want the .py warning", res.Warnings)
	}
	if res.Signature.Status != plugin.SigUnsigned || !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, "not signed") }) {
		t.Fatalf("signature %+v warnings %q", res.Signature, res.Warnings)
	}
}

// TestMarketSignatures: under --unsigned refuse, unsigned and untrusted
// packages are refused and a trusted one installs; a tampered signed
// package is refused even under allow; a package changed in the store
// after upload is not loaded at the next start.
func TestMarketSignatures(t *testing.T) {
	priv, pub, err := plugin.GenerateKey("acme")
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := plugin.ParsePublicKeys(pub)
	mpriv, _, _ := plugin.GenerateKey("mallory")
	dir := t.TempDir()
	ctx := withTimeout(t, 3*time.Minute)
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "maid.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	be := processBackend(t)
	newEngine := func(pol plugin.UnsignedPolicy) (*engine.Engine, func()) {
		eng, err := engine.New(engine.Config{Store: st, Backend: be, DataDir: dir, TrustedKeys: plugin.NewKeyring(keys...), Unsigned: pol})
		if err != nil {
			t.Fatal(err)
		}
		return eng, enginetest.Serve(t, eng)
	}
	eng, stop := newEngine(plugin.UnsignedRefuse)
	if _, err := eng.Publish(ctx, plugintest.Pack(t, versioned("1.0.0", "number")), engine.PublishOptions{}); !errors.Is(err, plugin.ErrSignature) {
		t.Fatalf("unsigned under refuse: %v, want ErrSignature", err)
	}
	if _, err := eng.Publish(ctx, plugintest.Sign(t, versioned("1.0.0", "number"), mpriv), engine.PublishOptions{}); !errors.Is(err, plugin.ErrSignature) {
		t.Fatalf("untrusted key under refuse: %v, want ErrSignature", err)
	}
	good := plugintest.Sign(t, versioned("1.0.0", "number"), priv)
	res, err := eng.Publish(ctx, good, engine.PublishOptions{})
	if err != nil || res.Signature.Status != plugin.SigTrusted || res.Signature.Publisher != "acme" {
		t.Fatalf("trusted package: %+v, %v", res.Signature, err)
	}
	stop()

	// Tampered after signing: refused even where unsigned is allowed.
	eng, stop = newEngine(plugin.UnsignedAllow)
	tampered := rezipWith(t, plugintest.Sign(t, versioned("1.1.0", "number"), priv), "__main__.py", "from maid_sdk import Plugin\nplugin = Plugin()\nplugin.run()\n")
	if _, err := eng.Publish(ctx, tampered, engine.PublishOptions{}); !errors.Is(err, plugin.ErrSignature) {
		t.Fatalf("tampered package: %v, want ErrSignature", err)
	}
	stop()

	// Changed in the database: not loaded at the next start.
	rec, err := st.GetPlugin(ctx, "vp")
	if err != nil {
		t.Fatal(err)
	}
	rec.Archive = rezipWith(t, rec.Archive, "__main__.py", "from maid_sdk import Plugin\nplugin = Plugin()\nplugin.run()\n")
	if err := st.PutPlugin(ctx, rec); err != nil {
		t.Fatal(err)
	}
	eng, stop = newEngine(plugin.UnsignedAllow)
	defer stop()
	if _, ok := eng.Plugin("vp"); ok {
		t.Fatal("a signed package changed in the store was loaded")
	}
}

// rezipWith rewrites a zip with one file replaced, keeping the rest
// (signature.json included).
func rezipWith(t *testing.T, archive []byte, name, content string) []byte {
	t.Helper()
	pkg, err := plugin.LoadZip(bytes.NewReader(archive), int64(len(archive)))
	if err != nil {
		t.Fatal(err)
	}
	defer pkg.Close()
	files := map[string]string{}
	for _, f := range pkg.Files {
		b, err := os.ReadFile(filepath.Join(pkg.Dir, filepath.FromSlash(f)))
		if err != nil {
			t.Fatal(err)
		}
		files[f] = string(b)
	}
	files[name] = content
	return plugintest.Pack(t, files)
}
