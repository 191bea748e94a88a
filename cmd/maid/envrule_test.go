package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoEnvOutsideCmd: flags and environment variables are cmd/maid's job.
// Library packages take what they need in their Config/Options, so a
// setting has one source (the flag, which defaults to its MAID_*
// variable) instead of a library reading the same variable behind the
// CLI's back (as the docker and wasm backends once did). Test files and
// internal/testenv and internal/pgtest (which read CI and the test
// database for tests) are exempt.
func TestNoEnvOutsideCmd(t *testing.T) {
	root := filepath.Join("..", "..")
	reads := map[string]bool{"Getenv": true, "LookupEnv": true, "Environ": true, "ExpandEnv": true}
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			switch {
			case rel == ".":
			case rel == "cmd", rel == "build", rel == "internal/testenv", rel == "internal/pgtest", rel == "node_modules",
				strings.HasPrefix(d.Name(), "."), d.Name() == "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == "os" && reads[sel.Sel.Name] {
				t.Errorf("%s: os.%s in a library package; take the value in its Config and read the environment in cmd/maid", fset.Position(sel.Pos()), sel.Sel.Name)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("checked only %d files: is the walk rooted at the repository?", checked)
	}
}
