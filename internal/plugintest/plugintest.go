// Package plugintest builds plugin packages for tests from a map of file
// names (slash-separated) to contents, as maid plugin pack and sign would:
// one copy for the engine's and the dashboard's marketplace tests.
package plugintest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/maidhq/maid/plugin"
)

// WriteFiles writes files into a new temporary directory and returns it.
func WriteFiles(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Pack returns files packed as a plugin zip (plugin.Pack).
func Pack(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := plugin.Pack(WriteFiles(t, files), &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Sign returns files packed and signed with the private key priv (in
// maid plugin keygen's file format).
func Sign(t testing.TB, files map[string]string, priv []byte) []byte {
	t.Helper()
	pkg, err := plugin.LoadDir(WriteFiles(t, files))
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := plugin.ParsePrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := pkg.Sign(key, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
