package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maidhq/maid/plugin"
)

// TestPluginSignCommands: keygen, sign and verify end to end; a tampered
// zip or an untrusted key fails verify; keygen never overwrites a key.
func TestPluginSignCommands(t *testing.T) {
	dir := t.TempDir()
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := runPlugin(context.Background(), args, &out, &errb)
		return code, out.String(), errb.String()
	}
	key := filepath.Join(dir, "acme")
	if code, out, errs := run("keygen", "-o", key, "acme"); code != 0 || !strings.Contains(out, "ed25519:") {
		t.Fatalf("keygen: %d %s %s", code, out, errs)
	}
	if fi, err := os.Stat(key + ".key"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key file: %v %v", fi, err)
	}
	if code, _, _ := run("keygen", "-o", key, "acme"); code != 1 {
		t.Fatal("keygen overwrote an existing key")
	}
	other := filepath.Join(dir, "other")
	if code, _, errs := run("keygen", "-o", other, "other"); code != 0 {
		t.Fatal(errs)
	}
	src := pluginTree(t, "spec004", map[string]string{"script.js": "from maid_sdk import Plugin\nPlugin().run()\n"})
	signed := filepath.Join(dir, "signed.zip")
	code, out, errs := run("sign", "-key", key+".key", "-o", signed, src)
	if code != 0 || !strings.Contains(out, "signed my_example 0+sha.") {
		t.Fatalf("sign: %d %s %s", code, out, errs)
	}
	if code, out, errs := run("verify", "-trusted-keys", key+".pub", signed); code != 0 || !strings.Contains(out, "signed by acme") {
		t.Fatalf("verify with the key: %d %s %s", code, out, errs)
	}
	if code, _, errs := run("verify", "-trusted-keys", other+".pub", signed); code != 1 || !strings.Contains(errs, "not in") {
		t.Fatalf("verify with another key: %d %s", code, errs)
	}
	if code, _, _ := run("verify", "-trusted-keys", key+".pub", src); code != 1 {
		t.Fatal("an unsigned directory verified")
	}
	// Tamper: change the script inside the signed package.
	pkg, err := plugin.Load(signed)
	if err != nil {
		t.Fatal(err)
	}
	defer pkg.Close()
	if err := os.WriteFile(filepath.Join(pkg.Dir, "script.js"), []byte("import os\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := run("verify", "-trusted-keys", dir, pkg.Dir); code != 1 || !strings.Contains(errs, "invalid signature") {
		t.Fatalf("verify a tampered package: %d %s", code, errs)
	}
}
