package plugin

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func signedZip(t *testing.T, dir string, priv []byte) []byte {
	t.Helper()
	pkg, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	sk, _, err := ParsePrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := pkg.Sign(sk, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func loadZipBytes(t *testing.T, b []byte) *Package {
	t.Helper()
	pkg, err := LoadZip(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pkg.Close() })
	return pkg
}

// rezip rewrites a zip with one file's content replaced (or added).
func rezip(t *testing.T, b []byte, name, content string) []byte {
	t.Helper()
	pkg := loadZipBytes(t, b)
	files := map[string]string{}
	for _, f := range pkg.Files {
		data, err := os.ReadFile(pkg.path(f))
		if err != nil {
			t.Fatal(err)
		}
		files[f] = string(data)
	}
	files[name] = content
	return packTree(t, files)
}

func plug(version string) map[string]string {
	v := ""
	if version != "" {
		v = `, "version": "` + version + `"`
	}
	return map[string]string{
		"manifest.json": `{"id": "signed", "name": "Signed"` + v + `}`,
		"__main__.py":   "print('hi')\n",
	}
}

// TestSignVerify: a signed package verifies by its key; a changed file, a
// signature moved onto another version or plugin, or a bad signature file
// make it invalid, whatever the key.
func TestSignVerify(t *testing.T) {
	priv, pub, err := GenerateKey("acme")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := ParsePublicKeys(pub)
	if err != nil {
		t.Fatal(err)
	}
	trusted := NewKeyring(keys...)
	_, otherPub, _ := GenerateKey("other")
	otherKeys, _ := ParsePublicKeys(otherPub)

	v1 := signedZip(t, writeTree(t, plug("1.0.0")), priv)
	v2unsigned := packTree(t, plug("2.0.0"))
	v1sig := func() string {
		data, err := os.ReadFile(loadZipBytes(t, v1).path(SignatureFile))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}()
	otherPlugin := rezip(t, v1, "manifest.json", `{"id": "impostor", "name": "Signed", "version": "1.0.0"}`)

	tests := []struct {
		name    string
		zip     []byte
		keys    *Keyring
		want    SigStatus
		problem string
	}{
		{name: "signed, trusted", zip: v1, keys: trusted, want: SigTrusted},
		{name: "signed, key not trusted", zip: v1, keys: NewKeyring(otherKeys...), want: SigUntrusted},
		{name: "signed, no keys", zip: v1, keys: nil, want: SigUntrusted},
		{name: "unsigned", zip: v2unsigned, keys: trusted, want: SigUnsigned},
		{name: "tampered script", zip: rezip(t, v1, "__main__.py", "print('evil')\n"), keys: trusted, want: SigInvalid, problem: "does not match"},
		{name: "file added", zip: rezip(t, v1, "extra.py", "x = 1\n"), keys: trusted, want: SigInvalid, problem: "does not match"},
		{name: "v1 signature replayed on v2", zip: rezip(t, v2unsigned, SignatureFile, v1sig), keys: trusted, want: SigInvalid, problem: "does not match"},
		{name: "v1 relabelled as v2", zip: rezip(t, v1, "manifest.json", `{"id": "signed", "name": "Signed", "version": "2.0.0"}`), keys: trusted, want: SigInvalid, problem: "does not match"},
		{name: "signature moved to another plugin id", zip: otherPlugin, keys: trusted, want: SigInvalid, problem: "does not match"},
		{name: "garbage signature file", zip: rezip(t, v1, SignatureFile, "{"), keys: trusted, want: SigInvalid, problem: "not valid JSON"},
		{name: "wrong format", zip: rezip(t, v1, SignatureFile, strings.Replace(v1sig, signatureKind, "v0", 1)), keys: trusted, want: SigInvalid, problem: "format"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := loadZipBytes(t, tc.zip).Verify(tc.keys)
			if got.Status != tc.want || !strings.Contains(got.Problem, tc.problem) {
				t.Fatalf("Verify = %+v, want status %s with problem containing %q", got, tc.want, tc.problem)
			}
			if got.Status == SigTrusted && got.Publisher != "acme" {
				t.Errorf("publisher = %q, want acme", got.Publisher)
			}
		})
	}
}

// TestUnsignedPolicy: invalid is refused under every policy; unsigned and
// untrusted follow the policy.
func TestUnsignedPolicy(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pol      UnsignedPolicy
		st       SigStatus
		refused  bool
		warnings bool
	}{
		{"trusted under refuse", UnsignedRefuse, SigTrusted, false, false},
		{"invalid under allow", UnsignedAllow, SigInvalid, true, false},
		{"invalid under warn", UnsignedWarn, SigInvalid, true, false},
		{"unsigned under refuse", UnsignedRefuse, SigUnsigned, true, false},
		{"untrusted under refuse", UnsignedRefuse, SigUntrusted, true, false},
		{"unsigned under warn", UnsignedWarn, SigUnsigned, false, true},
		{"untrusted under warn", UnsignedWarn, SigUntrusted, false, true},
		{"unsigned under allow", UnsignedAllow, SigUnsigned, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := tc.pol.Check(Verification{Status: tc.st, Problem: "x"})
			if (err != nil) != tc.refused || (w != "") != tc.warnings {
				t.Fatalf("Check = %q, %v; want refused %v, warning %v", w, err, tc.refused, tc.warnings)
			}
		})
	}
	if _, err := ParseUnsignedPolicy("sometimes"); err == nil {
		t.Fatal("ParseUnsignedPolicy accepted sometimes")
	}
}

// TestDerivedVersion: spec 004's example (no version) gets 0+sha.<hash7>,
// the same from a directory and from its zip, and it ranks below releases.
func TestDerivedVersion(t *testing.T) {
	pkg, err := LoadDir(filepath.Join("testdata", "spec004"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := pkg.EffectiveVersion()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v, "0+sha.") || len(v) != len("0+sha.")+7 {
		t.Fatalf("derived version %q, want 0+sha.<7 hex>", v)
	}
	var buf bytes.Buffer
	if err := Pack(pkg.Dir, &buf); err != nil {
		t.Fatal(err)
	}
	if v2, _ := loadZipBytes(t, buf.Bytes()).EffectiveVersion(); v2 != v {
		t.Fatalf("zip's derived version %q != directory's %q", v2, v)
	}
	if c, err := CompareVersions(v, "0.0.1"); err != nil || c != -1 {
		t.Fatalf("CompareVersions(%s, 0.0.1) = %d, %v; want -1", v, c, err)
	}
	if w := pkg.Manifest.ScriptWarning(); !strings.Contains(w, "script.js") {
		t.Fatalf("ScriptWarning = %q", w)
	}
}

// TestMarketProblems: assets/ and CHANGELOG.md are bounded and typed.
func TestMarketProblems(t *testing.T) {
	base := plug("1.0.0")
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"fine", with(base, map[string]string{"assets/icon.png": "png", "assets/screenshot1.jpg": "jpg", "CHANGELOG.md": "# 1.0.0\n"}), ""},
		{"svg icon", with(base, map[string]string{"assets/icon.svg": "<svg/>"}), "SVG"},
		{"odd name", with(base, map[string]string{"assets/banner.png": "x"}), "icon.<ext>"},
		{"too big", with(base, map[string]string{"assets/icon.png": strings.Repeat("x", MaxAssetBytes+1)}), "at most"},
		{"long changelog", with(base, map[string]string{"CHANGELOG.md": strings.Repeat("x", MaxChangelogBytes+1)}), "CHANGELOG.md"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkg, err := LoadDir(writeTree(t, tc.files))
			if err != nil {
				t.Fatal(err)
			}
			err = pkg.MarketProblems()
			if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("MarketProblems = %v, want %q", err, tc.want)
			}
			if tc.want == "" {
				a := pkg.Assets()
				if a.Icon != "assets/icon.png" || len(a.Screenshots) != 1 || pkg.Changelog() != "# 1.0.0\n" {
					t.Fatalf("assets %+v, changelog %q", a, pkg.Changelog())
				}
			}
		})
	}
}
