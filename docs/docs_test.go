// Package docs holds no code: its test keeps the documents' test
// citations true. The docs prove their claims by naming tests
// ("`go test -run 'TestA|TestB' ./pkg`", "`TestA` in `pkg`"); a renamed
// or deleted test would leave a claim citing nothing.
package docs

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// citedDocs are the documents whose citations are checked, relative to
// the repository root.
var citedDocs = []string{"README.md", "RATIONALE.md", "docs/*.md"}

// placeholders are names the docs use to show the citation form itself.
var placeholders = map[string]bool{"TestName": true, "./package": true}

func TestCitedTestsExist(t *testing.T) {
	root := ".."
	tests, err := testFuncs(root)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, glob := range citedDocs {
		m, err := filepath.Glob(filepath.Join(root, glob))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 3 {
		t.Fatalf("found only %v: is the test running in docs/?", files)
	}
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		for _, c := range citations(string(b), tests) {
			n++
			if msg := c.check(tests); msg != "" {
				t.Errorf("%s:%d: %s", filepath.ToSlash(rel), c.line, msg)
			}
		}
	}
	// The parser finding nothing would pass every doc.
	if n < 100 {
		t.Errorf("found only %d citations in %d documents; the parser is missing them", n, len(files))
	}
}

// packageTests maps a package directory ("sandbox/wasm", "." for the
// root) to the names of the Test, Fuzz, Benchmark and Example functions
// its _test.go files declare.
type packageTests map[string][]string

var testFuncRE = regexp.MustCompile(`(?m)^func ((?:Test|Fuzz|Benchmark|Example)\w*)\(`)

func testFuncs(root string) (packageTests, error) {
	tests := packageTests{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules" || name == "build") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") {
			return nil
		}
		dir, _ := filepath.Rel(root, filepath.Dir(path))
		dir = filepath.ToSlash(dir)
		if _, ok := tests[dir]; !ok {
			tests[dir] = nil // a package, with or without tests
		}
		if !strings.HasSuffix(name, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range testFuncRE.FindAllStringSubmatch(string(b), -1) {
			tests[dir] = append(tests[dir], m[1])
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list test functions: %w", err)
	}
	return tests, nil
}

// citation is one claim that tests exist: pattern is a -run or -bench
// regexp (or a plain name), pkg a package directory, or "" for any.
type citation struct {
	line    int
	text    string // as written, for the error
	pattern string
	pkg     string // "" any package; "dir/..." any under dir
	bench   bool   // -bench: matches Benchmark functions only
	exact   bool   // a name in prose: the function's whole name, not a regexp
}

// check says what is wrong with c, or "".
func (c citation) check(tests packageTests) string {
	var names []string
	where := "any package"
	switch {
	case c.pkg == "":
		for _, n := range tests {
			names = append(names, n...)
		}
	case strings.HasSuffix(c.pkg, "/..."):
		prefix := strings.TrimSuffix(c.pkg, "...")
		for dir, n := range tests {
			if strings.HasPrefix(dir+"/", prefix) {
				names = append(names, n...)
			}
		}
		where = c.pkg
	default:
		n, ok := tests[c.pkg]
		if !ok {
			return fmt.Sprintf("%s: no package %s", c.text, c.pkg)
		}
		names, where = n, c.pkg
	}
	if c.pattern == "" || placeholders[c.pattern] {
		return ""
	}
	top := splitTop(c.pattern, '/')[0] // subtests: only the top level is checked
	for _, alt := range splitTop(top, '|') {
		expr := alt
		if c.exact {
			expr = "^" + regexp.QuoteMeta(alt) + "$"
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			return fmt.Sprintf("%s: %q: %v", c.text, alt, err)
		}
		found := false
		for _, n := range names {
			if strings.HasPrefix(n, "Benchmark") == c.bench && re.MatchString(n) {
				found = true
				break
			}
		}
		if !found {
			kind := "test"
			if c.bench {
				kind = "benchmark"
			}
			return fmt.Sprintf("%s: %q matches no %s in %s", c.text, alt, kind, where)
		}
	}
	return ""
}

// splitTop splits s at sep outside parentheses and brackets, as go test
// splits -run at '/' and as '|' binds loosest.
func splitTop(s string, sep byte) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '(', '[':
			depth++
		case ')', ']':
			depth--
		case sep:
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}

// span is an inline code span: text between its backticks, at offsets
// [start, end) of the document including the backticks.
type span struct {
	start, end, ticks int
	text              string
}

var (
	fenceRE      = regexp.MustCompile("^ {0,3}(```|~~~)")
	closeFenceRE = map[string]*regexp.Regexp{
		"```": regexp.MustCompile("\n {0,3}```"),
		"~~~": regexp.MustCompile("\n {0,3}~~~"),
	}
)

// codeSpans returns the inline code spans of a markdown document; fenced
// code blocks are skipped (their `go test` lines are read line by line).
func codeSpans(doc string) []span {
	var spans []span
	for i := 0; i < len(doc); {
		if i == 0 || doc[i-1] == '\n' {
			if m := fenceRE.FindStringSubmatch(doc[i:]); m != nil {
				lineEnd := strings.IndexByte(doc[i:], '\n')
				if lineEnd < 0 {
					return spans
				}
				closing := closeFenceRE[m[1]].FindStringIndex(doc[i+lineEnd:])
				if closing == nil {
					return spans
				}
				i += lineEnd + closing[1]
				continue
			}
		}
		if doc[i] != '`' {
			i++
			continue
		}
		n := 1
		for i+n < len(doc) && doc[i+n] == '`' {
			n++
		}
		ticks := doc[i : i+n]
		closed := false
		for j := i + n; j < len(doc); {
			k := strings.Index(doc[j:], ticks)
			if k < 0 {
				break
			}
			k += j
			if strings.Contains(doc[i:k], "\n\n") {
				break // spans end with their paragraph
			}
			if k+n < len(doc) && doc[k+n] == '`' { // a longer run
				for k < len(doc) && doc[k] == '`' {
					k++
				}
				j = k
				continue
			}
			spans = append(spans, span{start: i, end: k + n, ticks: n, text: doc[i+n : k]})
			i, closed = k+n, true
			break
		}
		if !closed {
			i += n
		}
	}
	return spans
}

var (
	goTestRE = regexp.MustCompile(`\bgo test\b`)
	// testNameRE is a span naming tests: a name, maybe with subtests, or an
	// alternation of such.
	testNameRE = regexp.MustCompile(`^(?:Test|Fuzz|Benchmark|Example)(?:[A-Z0-9_]\w*)?(?:/\S*)?(?:\|(?:Test|Fuzz|Benchmark|Example)\w*(?:/\S*)?)*$`)
	// inPkgRE is "in pkg" after a test name span: a span or a bare path.
	inPkgRE = regexp.MustCompile("^\\s+in\\s+(?:`([^`]+)`|([\\w][\\w/.-]*))")
	// parenPkgRE is " (`pkg`" after a test name span.
	parenPkgRE = regexp.MustCompile("^\\s+\\(`([^`]+)`")
)

// goTestValueFlags are go test's flags that take a value.
var goTestValueFlags = map[string]bool{
	"-run": true, "-bench": true, "-skip": true, "-benchtime": true, "-count": true, "-cpu": true,
	"-cpuprofile": true, "-memprofile": true, "-blockprofile": true, "-mutexprofile": true,
	"-coverprofile": true, "-timeout": true, "-tags": true, "-fuzz": true, "-fuzztime": true,
	"-o": true, "-p": true, "-parallel": true, "-exec": true, "-trace": true, "-outputdir": true,
}

// noTests are -run patterns that run no test on purpose (beside -bench).
var noTests = map[string]bool{"^$": true, "XXX": true, "^XXX$": true}

// citations finds the test citations of a markdown document: `go test`
// commands (in code spans, or on a line of a code block) and code spans
// naming tests, with the package they say when they say one.
func citations(doc string, tests packageTests) []citation {
	lineOf := func(off int) int { return strings.Count(doc[:off], "\n") + 1 }
	spans := codeSpans(doc)
	var cs []citation

	for _, loc := range goTestRE.FindAllStringIndex(doc, -1) {
		end := strings.IndexByte(doc[loc[0]:], '\n')
		if end < 0 {
			end = len(doc) - loc[0]
		}
		end += loc[0]
		for _, s := range spans {
			if s.start < loc[0] && loc[0] < s.end {
				end = s.end - s.ticks
				break
			}
		}
		cmd := strings.Join(strings.Fields(doc[loc[0]:end]), " ")
		cs = append(cs, goTestCitations(cmd, lineOf(loc[0]))...)
	}

	for i, s := range spans {
		if !testNameRE.MatchString(s.text) || goTestRE.MatchString(s.text) {
			continue
		}
		pkg := ""
		rest := doc[s.end:]
		if m := inPkgRE.FindStringSubmatch(rest); m != nil {
			p := strings.TrimRight(m[1]+m[2], "/.,;:)")
			if _, ok := tests[p]; ok {
				pkg = p
			}
		} else if m := parenPkgRE.FindStringSubmatch(rest); m != nil {
			if _, ok := tests[m[1]]; ok {
				pkg = m[1]
			}
		}
		if pkg == "" && i > 0 && strings.TrimSpace(doc[spans[i-1].end:s.start]) == "" {
			if _, ok := tests[spans[i-1].text]; ok { // "`rpc` `TestX`"
				pkg = spans[i-1].text
			}
		}
		text := "`" + s.text + "`"
		if pkg != "" {
			text += " in " + pkg
		}
		cs = append(cs, citation{line: lineOf(s.start), text: text, pattern: s.text, pkg: pkg,
			bench: strings.HasPrefix(s.text, "Benchmark"), exact: true})
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].line < cs[j].line })
	return cs
}

// goTestCitations reads one `go test` command line: each -run and -bench
// pattern against each package it names (any package if none).
func goTestCitations(cmd string, line int) []citation {
	var runs, benches, pkgs []string
	toks := shellFields(strings.TrimPrefix(cmd, "go test"))
	for i := 0; i < len(toks); i++ {
		tok := toks[i]
		if strings.HasPrefix(tok, "-") {
			name, val, hasVal := strings.Cut(tok, "=")
			name = "-" + strings.TrimLeft(name, "-")
			if !hasVal && goTestValueFlags[name] && i+1 < len(toks) {
				i++
				val = toks[i]
			}
			switch name {
			case "-run":
				if !noTests[val] {
					runs = append(runs, val)
				}
			case "-bench":
				benches = append(benches, val)
			}
			continue
		}
		if tok == "." || strings.HasPrefix(tok, "./") {
			p := strings.TrimSuffix(strings.TrimPrefix(tok, "./"), "/")
			switch {
			case p == "..." || p == "":
				p = "" // any package
			case tok == ".":
				p = "."
			}
			pkgs = append(pkgs, p)
		}
	}
	if len(pkgs) == 0 {
		pkgs = []string{""}
	}
	var cs []citation
	for _, p := range pkgs {
		if placeholders["./"+p] {
			continue
		}
		if len(runs)+len(benches) == 0 && p != "" {
			cs = append(cs, citation{line: line, text: cmd, pkg: p})
		}
		for _, r := range runs {
			cs = append(cs, citation{line: line, text: cmd, pattern: r, pkg: p})
		}
		for _, b := range benches {
			cs = append(cs, citation{line: line, text: cmd, pattern: b, pkg: p, bench: true})
		}
	}
	return cs
}

// shellFields splits a command line as a shell would for the simple
// commands the docs show: whitespace, single and double quotes; it stops
// at a comment or a command separator.
func shellFields(s string) []string {
	var out []string
	var cur strings.Builder
	in, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, in = c, true
		case c == ' ' || c == '\t' || c == '\n':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		case !in && (c == '#' || c == ';' || c == '|' || c == '&' || c == '>'):
			return out
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

func TestCitations(t *testing.T) {
	tests := packageTests{
		"dashboard":   {"TestClientAddr", "TestSignInCrossSite", "FuzzClientAddr"},
		"store":       {"TestStore", "BenchmarkKVSet", "BenchmarkKVGet"},
		"rpc":         {"TestWireErrors"},
		"cmd/maid":    {"TestDevReload"},
		"sandbox/foo": nil,
	}
	cases := []struct {
		name string
		doc  string
		want []string // the problems check finds, "" for none
	}{
		{"run alternation", "(`go test -run 'TestClientAddr|TestSignInCrossSite' ./dashboard`)", []string{""}},
		{"run wrapped over lines", "(`go test -run\n'TestClientAddr|TestGone'\n./dashboard`)",
			[]string{`go test -run 'TestClientAddr|TestGone' ./dashboard: "TestGone" matches no test in dashboard`}},
		{"run in another package", "`go test -run 'TestWireErrors' ./dashboard`",
			[]string{`go test -run 'TestWireErrors' ./dashboard: "TestWireErrors" matches no test in dashboard`}},
		{"no such package", "`go test -run 'TestStore' ./stor`", []string{"go test -run 'TestStore' ./stor: no package stor"}},
		{"subtest checks the top level", "`go test -run 'TestStore/.*/sql_isolation' ./store`", []string{""}},
		{"bench group", "`go test -run '^$' -bench 'KV(Set|Get)' -benchtime 3000x ./store/`", []string{""}},
		{"bench is not a test", "`go test -bench 'TestStore' ./store`",
			[]string{`go test -bench 'TestStore' ./store: "TestStore" matches no benchmark in store`}},
		{"code block line", "```sh\ngo test -run XXX -bench KVSet ./store/   # sets\n```\n", []string{""}},
		{"fence in a list", "- a\n  ```sh\n  go test -run TestGone ./rpc\n  ```\n  `TestWireErrors` in `rpc`", []string{
			`go test -run TestGone ./rpc: "TestGone" matches no test in rpc`, ""}},
		{"no package: any", "`go test -run 'TestDevReload'`", []string{""}},
		{"name in pkg", "`TestWireErrors` in `rpc`", []string{""}},
		{"name in bare pkg", "`TestDevReload` in cmd/maid, which", []string{""}},
		{"name in wrong pkg", "`TestWireErrors` in `store`",
			[]string{"`TestWireErrors` in store: \"TestWireErrors\" matches no test in store"}},
		{"name then (pkg)", "`TestStore` (`rpc`)", []string{"`TestStore` in rpc: \"TestStore\" matches no test in rpc"}},
		{"pkg then name", "`rpc` `TestWireErrors`", []string{""}},
		{"name is exact", "`TestClient` does it", []string{"`TestClient`: \"TestClient\" matches no test in any package"}},
		{"in prose is no package", "`FuzzClientAddr` in a child process", []string{""}},
		{"placeholder", "(`go test -run 'TestName' ./package`)", nil},
		{"not a test name", "`Testing` and `TestFoo bar`", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, c := range citations(tc.doc, tests) {
				got = append(got, c.check(tests))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") || len(got) != len(tc.want) {
				t.Errorf("problems:\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}
