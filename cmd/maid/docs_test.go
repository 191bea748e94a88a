package main

import (
	"bytes"
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// opsDoc holds maid serve's flag tables: every table in it headed
// flagTableHeader documents serve's flags (the cluster flags too).
const (
	opsDoc          = "../../docs/operations.md"
	flagTableHeader = "| flag | environment | default | what |"
)

// TestServeFlagsDocumented holds docs/operations.md's flag tables to the
// flags maid serve defines: every flag documented, no documented flag
// missing, each with the MAID_ variable it reads, and a default written
// as one code span equal to the flag's. Flags whose usage says
// "(testing)" are for tests against fake Discord endpoints and are not
// documented.
func TestServeFlagsDocumented(t *testing.T) {
	flags := serveFlagDefaults(t)
	envs, err := flagEnvs("runServe")
	if err != nil {
		t.Fatal(err)
	}
	for name := range flags {
		if _, ok := envs[name]; !ok {
			t.Errorf("-%s: maid serve defines it but the walk of runServe did not find where; follow the helper that registers it", name)
		}
	}
	rows, err := flagRows(opsDoc)
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, r := range rows {
		documented[r.flag] = true
		f, ok := flags[r.flag]
		if !ok {
			t.Errorf("docs/operations.md:%d: %s%s: maid serve has no such flag", r.line, dashes(r.flag), r.flag)
			continue
		}
		if r.env != envs[r.flag] {
			t.Errorf("docs/operations.md:%d: %s%s: environment %q, but the flag reads %q", r.line, dashes(r.flag), r.flag, r.env, envs[r.flag])
		}
		if r.def != "" && f.def != "" && !sameDefault(r.def, f.def) {
			t.Errorf("docs/operations.md:%d: %s%s: default %q, but the flag's is %q", r.line, dashes(r.flag), r.flag, r.def, f.def)
		}
	}
	for name, f := range flags {
		if !documented[name] && !f.testing {
			t.Errorf("%s%s (%s): maid serve defines it but docs/operations.md's flag tables lack it", dashes(name), name, f.usage)
		}
	}
}

// dashes is how the docs write a flag: -v, --addr.
func dashes(name string) string {
	if len(name) == 1 {
		return "-"
	}
	return "--"
}

type serveFlag struct {
	def     string // as -h prints it: "" for a zero value
	usage   string
	testing bool
}

// flagLineRE is a flag's line in -h output: "  -name type" or "  -name".
var (
	flagLineRE = regexp.MustCompile(`^  -(\S+)`)
	defaultRE  = regexp.MustCompile(`\(default ("(?:[^"\\]|\\.)*"|\S+)\)$`)
)

// serveFlagDefaults returns maid serve's flags as its -h prints them,
// with no MAID_ variable set, so defaults are the code's.
func serveFlagDefaults(t *testing.T) map[string]serveFlag {
	for _, kv := range os.Environ() {
		if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "MAID_") {
			t.Setenv(k, v) // restored after the test
			os.Unsetenv(k)
		}
	}
	var out bytes.Buffer
	if code := runServe(context.Background(), []string{"-h"}, io.Discard, &out); code != 0 {
		t.Fatalf("maid serve -h: exit %d: %s", code, out.String())
	}
	flags := map[string]serveFlag{}
	name := ""
	for _, line := range strings.Split(out.String(), "\n") {
		if m := flagLineRE.FindStringSubmatch(line); m != nil {
			name = m[1]
			f := serveFlag{}
			if _, usage, ok := strings.Cut(line, "\t"); ok { // a one-letter flag's usage shares its line
				f.usage = usage
			}
			flags[name] = f
			continue
		}
		if name == "" || !strings.HasPrefix(line, "    \t") {
			continue
		}
		f := flags[name]
		f.usage = strings.TrimSpace(f.usage + " " + strings.TrimSpace(line))
		flags[name] = f
	}
	for name, f := range flags {
		if m := defaultRE.FindStringSubmatch(f.usage); m != nil {
			f.def = m[1]
			if s, err := strconv.Unquote(m[1]); err == nil {
				f.def = s
			}
		}
		f.testing = strings.Contains(f.usage, "(testing)")
		flags[name] = f
	}
	if len(flags) < 20 {
		t.Fatalf("read only %d flags from maid serve -h:\n%s", len(flags), out.String())
	}
	return flags
}

// sameDefault compares a documented default with a flag's, durations by
// value (10m is 10m0s).
func sameDefault(doc, flag string) bool {
	if doc == flag {
		return true
	}
	a, errA := time.ParseDuration(doc)
	b, errB := time.ParseDuration(flag)
	return errA == nil && errB == nil && a == b
}

// flagMethods are the flag.FlagSet methods that define a flag, with the
// index of the name argument; the default follows it (none for Var, Func).
var flagMethods = map[string]int{
	"String": 0, "Bool": 0, "Int": 0, "Int64": 0, "Uint": 0, "Uint64": 0, "Float64": 0, "Duration": 0,
	"StringVar": 1, "BoolVar": 1, "IntVar": 1, "Int64Var": 1, "UintVar": 1, "Uint64Var": 1, "Float64Var": 1, "DurationVar": 1,
	"Var": 1, "TextVar": 1, "Func": 0, "BoolFunc": 0,
}

// flagEnvs reads this package's source from the function root: each flag
// defined on its flag set, through the helpers the set is passed to, and
// the MAID_ variable its default reads ("" for none), as in
// fs.String("addr", envOr("ADDR", ...), ...).
func flagEnvs(root string) (map[string]string, error) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		return nil, err
	}
	funcs := map[string]*ast.FuncDecl{} // "name" or "Type.name"
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", f, err)
		}
		for _, d := range af.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok {
				funcs[funcKey(fd)] = fd
			}
		}
	}
	fd := funcs[root]
	if fd == nil {
		return nil, fmt.Errorf("no func %s", root)
	}
	envs := map[string]string{}
	// runServe makes its set with newFlags; the helpers take it as a parameter.
	return envs, walkFlags(fset, funcs, fd, "fs", envs, map[string]bool{})
}

func funcKey(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	typ := fd.Recv.List[0].Type
	if st, ok := typ.(*ast.StarExpr); ok {
		typ = st.X
	}
	if id, ok := typ.(*ast.Ident); ok {
		return id.Name + "." + fd.Name.Name
	}
	return fd.Name.Name
}

func walkFlags(fset *token.FileSet, funcs map[string]*ast.FuncDecl, fd *ast.FuncDecl, fsName string, envs map[string]string, seen map[string]bool) error {
	seen[funcKey(fd)] = true
	types := map[string]string{} // variable → its type's name, to follow method calls
	if fd.Recv != nil && len(fd.Recv.List[0].Names) > 0 {
		types[fd.Recv.List[0].Names[0].Name] = strings.Split(funcKey(fd), ".")[0]
	}
	var err error
	ast.Inspect(fd.Body, func(n ast.Node) bool {
		if err != nil {
			return false
		}
		switch n := n.(type) {
		case *ast.ValueSpec: // var bf backendFlags
			if id, ok := n.Type.(*ast.Ident); ok {
				for _, name := range n.Names {
					types[name.Name] = id.Name
				}
			}
		case *ast.CallExpr:
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok && isIdent(sel.X, fsName) {
				if i, ok := flagMethods[sel.Sel.Name]; ok {
					err = defineFlag(fset, n, i, envs)
				}
				return true
			}
			for i, arg := range n.Args {
				if !isIdent(arg, fsName) {
					continue
				}
				var key string
				switch fun := n.Fun.(type) {
				case *ast.Ident:
					key = fun.Name
				case *ast.SelectorExpr:
					if x, ok := fun.X.(*ast.Ident); ok {
						key = types[x.Name] + "." + fun.Sel.Name
					}
				}
				callee := funcs[key]
				if callee == nil {
					err = fmt.Errorf("%s: the flag set is passed to a call this test cannot follow", fset.Position(n.Pos()))
					return false
				}
				if !seen[key] {
					err = walkFlags(fset, funcs, callee, paramName(callee, i), envs, seen)
				}
			}
		}
		return true
	})
	return err
}

func defineFlag(fset *token.FileSet, call *ast.CallExpr, nameArg int, envs map[string]string) error {
	pos := fset.Position(call.Pos())
	if len(call.Args) <= nameArg {
		return fmt.Errorf("%s: a flag without a name", pos)
	}
	name, err := stringLit(call.Args[nameArg])
	if err != nil {
		return fmt.Errorf("%s: flag name: %w", pos, err)
	}
	env := ""
	if len(call.Args) > nameArg+2 {
		if c, ok := call.Args[nameArg+1].(*ast.CallExpr); ok {
			if id, ok := c.Fun.(*ast.Ident); ok && strings.HasPrefix(id.Name, "env") && len(c.Args) > 0 {
				v, err := stringLit(c.Args[0])
				if err != nil {
					return fmt.Errorf("%s: -%s: environment name: %w", pos, name, err)
				}
				env = "MAID_" + v // envOr and the others read MAID_<name>
			}
		}
	}
	envs[name] = env
	return nil
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

func stringLit(e ast.Expr) (string, error) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", fmt.Errorf("not a string literal")
	}
	return strconv.Unquote(lit.Value)
}

// paramName is the name of fd's i-th parameter.
func paramName(fd *ast.FuncDecl, i int) string {
	for _, field := range fd.Type.Params.List {
		for _, n := range field.Names {
			if i == 0 {
				return n.Name
			}
			i--
		}
	}
	return ""
}

// flagRow is one flag of a documented flag table; a row naming several
// flags gives one each, paired with its environment column's entries.
type flagRow struct {
	line           int
	flag, env, def string
}

var (
	codeRE        = regexp.MustCompile("`([^`]*)`")
	placeholderRE = regexp.MustCompile(`^[A-Z][A-Z0-9_-]*$`) // HOST-PID
)

func flagRows(path string) ([]flagRow, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rows []flagRow
	in := false
	for i, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == flagTableHeader {
			in = true
			continue
		}
		if !in || strings.HasPrefix(line, "|---") {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			in = false
			continue
		}
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		for j := range cells {
			cells[j] = strings.TrimSpace(cells[j])
		}
		if len(cells) < 4 {
			return nil, fmt.Errorf("%s:%d: a flag row of %d cells", path, i+1, len(cells))
		}
		var names, envs []string
		for _, m := range codeRE.FindAllStringSubmatch(cells[0], -1) {
			names = append(names, strings.TrimLeft(m[1], "-"))
		}
		for _, e := range strings.Split(cells[1], ",") {
			if e = strings.Trim(strings.TrimSpace(e), "`"); e != "" {
				envs = append(envs, e)
			}
		}
		def := ""
		if m := codeRE.FindAllStringSubmatch(cells[2], -1); len(m) == 1 && cells[2] == m[0][0] && !placeholderRE.MatchString(m[0][1]) {
			def = m[0][1] // one code span, not a placeholder
		}
		for j, name := range names {
			r := flagRow{line: i + 1, flag: name}
			if j < len(envs) {
				r.env = envs[j]
			}
			if len(names) == 1 {
				r.def = def
			}
			rows = append(rows, r)
		}
	}
	return rows, nil
}

func TestFlagRows(t *testing.T) {
	doc := "intro\n\n" + flagTableHeader + "\n|---|---|---|---|\n" +
		"| `--addr` | `MAID_ADDR` | `127.0.0.1:8080` | listen |\n" +
		"| `--a`, `--b` | `MAID_A`, `MAID_B` | `x` | two |\n" +
		"| `--lease-ttl` | | `10s` | no variable |\n" +
		"| `--node-id` | `MAID_NODE_ID` | `HOST-PID` | placeholder |\n" +
		"| `-v` | | `false` (quiet) | prose default |\n" +
		"\n| flag | other |\n|---|---|\n| `--not-a-flag-row` | x |\n"
	path := filepath.Join(t.TempDir(), "ops.md")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := flagRows(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []flagRow{
		{line: 5, flag: "addr", env: "MAID_ADDR", def: "127.0.0.1:8080"},
		{line: 6, flag: "a", env: "MAID_A"},
		{line: 6, flag: "b", env: "MAID_B"},
		{line: 7, flag: "lease-ttl", def: "10s"},
		{line: 8, flag: "node-id", env: "MAID_NODE_ID"},
		{line: 9, flag: "v"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rows:\n%v\nwant\n%v", got, want)
	}
}
