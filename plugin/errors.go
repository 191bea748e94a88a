package plugin

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every error this package returns for bad input wraps
// ErrInvalid (a *ValidationError does through Unwrap), so callers can tell a
// broken package (HTTP 400, exit 1) from an I/O failure.
var (
	// ErrInvalid: the package, a manifest or option values break a rule of
	// the format.
	ErrInvalid = errors.New("invalid plugin package")
)

// Problem is one broken rule: where (a JSON path such as
// "options[3].choices[0].id", or a file path inside the package) and what.
type Problem struct {
	Path string
	Rule string
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Rule
	}
	return p.Path + ": " + p.Rule
}

// ValidationError lists every problem found in one file (File names it:
// "plugin.json", "dashboard_manifest.json", or "" for the package tree).
type ValidationError struct {
	File     string
	Problems []Problem
}

// Error lists one problem per line, e.g.
// `plugin.json: options[3].choices[0].id: "enabled" is reserved`.
func (e *ValidationError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		if e.File != "" {
			b.WriteString(e.File)
			b.WriteString(": ")
		}
		b.WriteString(p.String())
	}
	if len(e.Problems) == 0 {
		b.WriteString(e.File)
		b.WriteString(": invalid")
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Lines returns every problem of err, one string per problem, in the format
// of ValidationError.Error. It looks through errors.Join trees; an error that
// is not a ValidationError yields its message.
func Lines(err error) []string {
	if err == nil {
		return nil
	}
	var out []string
	var walk func(error)
	walk = func(err error) {
		if ve, ok := err.(*ValidationError); ok {
			out = append(out, strings.Split(ve.Error(), "\n")...)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		out = append(out, strings.Split(err.Error(), "\n")...)
	}
	walk(err)
	return out
}

// problems collects Problems up to MaxProblems.
type problems struct {
	list    []Problem
	dropped int
}

func (ps *problems) add(path, format string, args ...any) {
	if len(ps.list) >= MaxProblems {
		ps.dropped++
		return
	}
	ps.list = append(ps.list, Problem{Path: path, Rule: fmt.Sprintf(format, args...)})
}

// firstUse records, for the values that must be unique in a list (ids,
// names, titles), the index of the element that used each first, so that a
// repeat is reported naming that element. One helper for every such list in
// plugin.json and dashboard_manifest.json, so they all say it the same way.
type firstUse map[string]int

// claim records that element i uses v or, if an earlier element did,
// reports it at path: rule has a %q for v and a %s for the earlier
// element, named by its index in list ("pages" → pages[0]).
func (f firstUse) claim(ps *problems, path, rule, v string, i int, list string) {
	if j, dup := f[v]; dup {
		ps.add(path, rule, v, indexPath(list, j))
		return
	}
	f[v] = i
}

// full reports whether further problems will only be counted.
func (ps *problems) full() bool { return len(ps.list) >= MaxProblems }

// err returns a *ValidationError for file, or nil if nothing was found.
func (ps *problems) err(file string) error {
	if len(ps.list) == 0 {
		return nil
	}
	list := ps.list
	if ps.dropped > 0 {
		list = append(list[:len(list):len(list)], Problem{Rule: fmt.Sprintf("%d more problems not shown", ps.dropped)})
	}
	return &ValidationError{File: file, Problems: list}
}
