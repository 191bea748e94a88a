package plugin

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func BenchmarkParseManifest(b *testing.B) {
	data, err := os.ReadFile("testdata/spec004/plugin.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseManifest(data, "plugin.json"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseDashboardManifest(b *testing.B) {
	data, err := os.ReadFile("testdata/spec000/dashboard_manifest.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseDashboardManifest(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadDir(b *testing.B) {
	for b.Loop() {
		if _, err := LoadDir("testdata/spec000"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPack(b *testing.B) {
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := Pack("testdata/spec000", &buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnpack(b *testing.B) {
	var buf bytes.Buffer
	if err := Pack("testdata/spec000", &buf); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	root := b.TempDir()
	i := 0
	for b.Loop() {
		i++
		if err := Unpack(bytes.NewReader(data), int64(len(data)), filepath.Join(root, itoa(i))); err != nil {
			b.Fatal(err)
		}
	}
}
