package plugin

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkReport asserts the shape every invalid-input error must have.
func checkReport(t *testing.T, err error, file string) {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("error %T is not a *ValidationError: %v", err, err)
	}
	if len(ve.Problems) == 0 || len(ve.Problems) > MaxProblems+1 {
		t.Fatalf("%d problems", len(ve.Problems))
	}
	for _, l := range Lines(err) {
		if !strings.HasPrefix(l, file+": ") {
			t.Fatalf("line %q does not name %s", l, file)
		}
	}
}

func FuzzManifest(f *testing.F) {
	for _, p := range []string{"testdata/spec004/plugin.json", "testdata/spec000/manifest.json"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, false)
		f.Add(data, true)
	}
	for _, s := range []string{
		`{}`, `[]`, `null`, `{"id": "x", "name": "X", "script": "s.py", "id": "y"}`,
		opt(`"id": "s", "name": "S", "type": "select", "default": "a", "choices": [{"id": "a", "name": "A"}, {"id": "enabled", "name": "E"}]`),
		opt(`"id": "n", "name": "N", "type": "number", "default": 1e308, "min": -1e308, "max": 0`),
		pj(`"limits": {"memory_mb": 9223372036854775807}, "commands": [{"name": "a", "description": "b", "options": [{"name": "c", "description": "d", "type": "user", "required": true}]}]`),
	} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, manifestJSON bool) {
		file := "plugin.json"
		if manifestJSON {
			file = "manifest.json"
		}
		m, err := ParseManifest(data, file)
		if err != nil {
			checkReport(t, err, file)
			return
		}
		// A valid manifest survives a round trip unchanged.
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := ParseManifest(out, file)
		if err != nil {
			t.Fatalf("re-encoded manifest is invalid: %v\n%s", err, out)
		}
		if out2, _ := json.Marshal(m2); !bytes.Equal(out, out2) {
			t.Fatalf("round trip changed the manifest:\n%s\n%s", out, out2)
		}
		// Defaults cover every option, and resolve with nothing stored.
		defs := m.DefaultOptions()
		if len(defs) != len(m.Options) {
			t.Fatalf("%d defaults for %d options", len(defs), len(m.Options))
		}
		if _, err := m.ResolveOptions(nil); err != nil {
			t.Fatalf("ResolveOptions(nil): %v", err)
		}
		for _, c := range m.Capabilities {
			if !m.Has(c) || !IsKnownCapability(c) {
				t.Fatalf("capability %q", c)
			}
		}
	})
}

func FuzzDashboardManifest(f *testing.F) {
	data, err := os.ReadFile("testdata/spec000/dashboard_manifest.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	for _, s := range []string{`{}`, `{"pages": []}`, `{"pages": [1, {}]}`,
		dm(`{"id": "f", "type": "form", "rpc_method": "dashboard.f", "save_method": "dashboard.s", "fields": [{"name": "e", "label": "E", "type": "select", "options": [{"value": "x", "label": "X"}]}]}`),
		dm(`{"id": "c", "type": "chart", "chart_type": "pie", "rpc_method": "dashboard.c", "title": "T"}`),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseDashboardManifest(data)
		if err != nil {
			checkReport(t, err, "dashboard_manifest.json")
			return
		}
		out, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		d2, err := ParseDashboardManifest(out)
		if err != nil {
			t.Fatalf("re-encoded dashboard manifest is invalid: %v\n%s", err, out)
		}
		if out2, _ := json.Marshal(d2); !bytes.Equal(out, out2) {
			t.Fatalf("round trip changed the dashboard manifest:\n%s\n%s", out, out2)
		}
		for _, h := range d.Handlers() {
			if !handlerRe.MatchString(h) {
				t.Fatalf("handler %q", h)
			}
		}
	})
}

func FuzzUnpack(f *testing.F) {
	f.Add(packTree(f, copyTestdata(f, "spec000")))
	ok := []byte("x")
	for _, entries := range [][]zent{
		{{name: "a/b.py", body: ok}, {name: "a/", mode: fs.ModeDir | 0o755}},
		{{name: "../escape", body: ok}},
		{{name: "/abs", body: ok}},
		{{name: "a", body: ok}, {name: "a/b", body: ok}},
		{{name: "link", body: []byte("../.."), mode: fs.ModeSymlink | 0o777}},
		{{name: "x.py", body: ok}, {name: "X.py", body: ok}},
		{{name: "z", body: make([]byte, 2<<20)}},
	} {
		f.Add(makeZip(f, entries))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		dest := filepath.Join(parent, "dest")
		err := Unpack(bytes.NewReader(data), int64(len(data)), dest)

		// Nothing may appear next to dest.
		names, rerr := os.ReadDir(parent)
		if rerr != nil {
			t.Fatal(rerr)
		}
		for _, n := range names {
			if n.Name() != "dest" {
				t.Fatalf("unpack wrote %q outside the destination", n.Name())
			}
		}
		var files []string
		var total int64
		filepath.WalkDir(dest, func(p string, d fs.DirEntry, werr error) error {
			if werr != nil || p == dest {
				return nil
			}
			if !d.Type().IsRegular() && !d.IsDir() {
				t.Fatalf("unpack made %s of type %v", p, d.Type())
			}
			if info, err := d.Info(); err == nil && !d.IsDir() {
				total += info.Size()
			}
			rel, _ := filepath.Rel(dest, p)
			files = append(files, filepath.ToSlash(rel))
			return nil
		})
		if err != nil {
			if len(files) > 0 {
				t.Fatalf("failed unpack (%v) left %q", err, files)
			}
			return
		}
		if total > MaxUnpackedBytes || len(files) > MaxEntries {
			t.Fatalf("unpacked %d bytes in %d entries", total, len(files))
		}
		// Every file written is an entry of the archive.
		zr, zerr := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if zerr != nil {
			t.Fatalf("Unpack accepted what archive/zip rejects: %v", zerr)
		}
		names2 := map[string]bool{}
		for _, f := range zr.File {
			n := strings.TrimSuffix(f.Name, "/")
			names2[n] = true
			for _, d := range parentDirs(n) {
				names2[d] = true
			}
		}
		for _, f := range files {
			if !names2[f] {
				t.Fatalf("unpacked %q, which the archive does not name", f)
			}
		}
	})
}

// FuzzKeyFiles: key file parsers never panic, and a parsed public key
// round-trips through its key id.
func FuzzKeyFiles(f *testing.F) {
	priv, pub, _ := GenerateKey("seed")
	f.Add(priv)
	f.Add(pub)
	f.Add([]byte("# comment\n\nmaid-ed25519-public AAAA x\n"))
	f.Add([]byte("maid-ed25519-private ////////////////////////////////////////////8= n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if keys, err := ParsePublicKeys(data); err == nil {
			k := NewKeyring(keys...)
			for _, pk := range keys {
				if _, ok := k.lookup(pk.Key); !ok {
					t.Fatalf("parsed key %s not found in its keyring", KeyID(pk.Key))
				}
			}
		}
		_, _, _ = ParsePrivateKey(data)
	})
}

// FuzzSignatureFile: any signature.json gives a verdict, never a panic,
// and never "trusted" without the real key's signature.
func FuzzSignatureFile(f *testing.F) {
	_, pub, _ := GenerateKey("k")
	keys, _ := ParsePublicKeys(pub)
	f.Add([]byte(`{"format": "maid-plugin-signature-v1", "key": "", "signature": ""}`))
	f.Add([]byte(`{`))
	f.Add([]byte(`{"format": "maid-plugin-signature-v1", "key": "` + strings.Fields(string(pub))[1] + `", "signature": "AAAA"}`))
	dir := f.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(`{"id": "f", "name": "F"}`), 0o644); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "__main__.py"), []byte("x = 1\n"), 0o644); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, sig []byte) {
		if err := os.WriteFile(filepath.Join(dir, SignatureFile), sig, 0o644); err != nil {
			t.Fatal(err)
		}
		pkg, err := LoadDir(dir)
		if err != nil {
			return
		}
		if v := pkg.Verify(NewKeyring(keys...)); v.Status == SigTrusted || v.Status == SigUnsigned {
			t.Fatalf("a fuzzed signature.json verified as %s", v.Status)
		}
	})
}
