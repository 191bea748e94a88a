package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/maidhq/maid/plugin"
	"github.com/maidhq/maid/sdk"
)

const pluginUsage = `Usage:
  maid plugin validate [-upload] PATH   check a plugin directory or zip
  maid plugin pack [-o FILE.zip] DIR    validate DIR, then write a deterministic zip
  maid plugin record --server ID PLUGIN on|off|list|get ID
                                        recordings for maid replay --exact
  maid plugin keygen [-o NAME] NAME     make a publisher key pair: NAME.key (secret) and NAME.pub
  maid plugin sign -key NAME.key [-o FILE.zip] PATH
                                        sign a plugin (dir or zip): a zip with signature.json
  maid plugin verify [-trusted-keys FILE|DIR] PATH
                                        check a plugin's signature (exit 1 unless it verifies
                                        by a trusted key; without -trusted-keys, any valid one)

validate prints "ok: <id> <version>" on stdout when the plugin is valid;
otherwise it prints every problem on stderr, one per line, and exits 1.
pack writes <id>-<version>.zip in the current directory unless -o is given.
The format is described in docs/plugin-format.md.
`

// runPlugin implements `maid plugin`. Exit codes: 0 ok, 1 invalid plugin or
// failure, 2 usage.
func runPlugin(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, pluginUsage)
		return 2
	}
	switch args[0] {
	case "validate":
		return pluginValidate(args[1:], stdout, stderr)
	case "pack":
		return pluginPack(args[1:], stdout, stderr)
	case "record":
		return runPluginRecord(ctx, args[1:], stdout, stderr)
	case "keygen":
		return pluginKeygen(args[1:], stdout, stderr)
	case "sign":
		return pluginSign(args[1:], stdout, stderr)
	case "verify":
		return pluginVerify(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, pluginUsage)
		return 0
	}
	fmt.Fprintf(stderr, "maid plugin: unknown subcommand %q\n\n%s", args[0], pluginUsage)
	return 2
}

// parseInterspersed parses flags wherever they appear among the positional
// arguments ("pack DIR -o x.zip" as well as "pack -o x.zip DIR"); the
// standard flag package stops at the first positional one.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// After an explicit "--" everything is positional.
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func newPluginFlags(name, usage string, stderr io.Writer) *flag.FlagSet {
	return newFlags("plugin "+name, "Usage: maid plugin "+usage+"\n\nFlags:\n", stderr)
}

// oneArg parses args (flags may follow the argument) and returns the one
// positional argument; code is the exit code (>= 0) when there is not
// exactly one, or -1.
func oneArg(fs *flag.FlagSet, args []string) (arg string, code int) {
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return "", flagExit(err)
	}
	if len(pos) != 1 {
		fs.Usage()
		return "", 2
	}
	return pos[0], -1
}

// flagExit maps a flag parse error to an exit code (-h is not an error).
func flagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

// printProblems prints an invalid plugin's problems, or another failure.
func printProblems(stderr io.Writer, cmd string, err error) {
	if errors.Is(err, plugin.ErrInvalid) {
		for _, l := range plugin.Lines(err) {
			fmt.Fprintln(stderr, l)
		}
		return
	}
	fmt.Fprintf(stderr, "maid plugin %s: %v\n", cmd, err)
}

func pluginValidate(args []string, stdout, stderr io.Writer) int {
	fs := newPluginFlags("validate", "validate [-upload] PATH", stderr)
	upload := fs.Bool("upload", false, "also apply the marketplace upload rules (assets/, CHANGELOG.md)")
	arg, code := oneArg(fs, args)
	if code >= 0 {
		return code
	}
	pkg, err := plugin.Load(arg)
	if err != nil {
		printProblems(stderr, "validate", err)
		return 1
	}
	defer pkg.Close()
	m := pkg.Manifest
	var errs []error
	if *upload {
		errs = append(errs, m.ValidateForUpload(), pkg.MarketProblems())
	}
	if err := m.SupportedBy(sdk.Version); err != nil {
		errs = append(errs, &plugin.ValidationError{File: pkg.ManifestFile, Problems: []plugin.Problem{
			{Path: "sdk", Rule: fmt.Sprintf("needs SDK %s, newer than the %s this maid ships", m.SDK, sdk.Version)}}})
	}
	if err := errors.Join(errs...); err != nil {
		printProblems(stderr, "validate", err)
		return 1
	}
	if m.Version == "" {
		fmt.Fprintf(stdout, "ok: %s\n", m.ID)
		fmt.Fprintf(stderr, "note: %s has no version; the marketplace derives one from the content\n", pkg.ManifestFile)
		return 0
	}
	fmt.Fprintf(stdout, "ok: %s %s\n", m.ID, m.Version)
	return 0
}

func pluginPack(args []string, stdout, stderr io.Writer) int {
	fs := newPluginFlags("pack", "pack [-o FILE.zip] DIR", stderr)
	out := fs.String("o", "", "output zip file (default: <id>-<version>.zip in the current directory)")
	arg, code := oneArg(fs, args)
	if code >= 0 {
		return code
	}
	dir := arg
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		if err == nil {
			err = fmt.Errorf("%s is not a directory", dir)
		}
		fmt.Fprintf(stderr, "maid plugin pack: %v\n", err)
		return 1
	}
	pkg, err := plugin.LoadDir(dir)
	if err != nil {
		printProblems(stderr, "pack", err)
		return 1
	}
	name := *out
	if name == "" {
		name = pkg.Manifest.ID + ".zip"
		if v := pkg.Manifest.Version; v != "" {
			name = pkg.Manifest.ID + "-" + v + ".zip"
		}
	}
	n, err := writePack(pkg.Dir, name)
	if err != nil {
		printProblems(stderr, "pack", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s (%d files, %d bytes)\n", name, len(pkg.Files), n)
	return 0
}

// writePack packs dir into name atomically: a temporary file next to name,
// renamed into place only when the whole zip is written.
func writePack(dir, name string) (int64, error) {
	abs, err := filepath.Abs(name)
	if err != nil {
		return 0, err
	}
	parent := filepath.Dir(abs)
	if real, err := filepath.EvalSymlinks(parent); err == nil {
		parent = real
	}
	// A zip inside the plugin would be packed into the next zip.
	if rel, err := filepath.Rel(dir, parent); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return 0, fmt.Errorf("output %s is inside the plugin directory; write it elsewhere with -o", name)
	}
	return writeAtomic(filepath.Join(parent, filepath.Base(abs)), ".maid-pack-*.zip", func(w io.Writer) error {
		return plugin.Pack(dir, w)
	})
}

// writeAtomic writes name (mode 0644) through a temporary file next to it,
// named by pattern (os.CreateTemp) and renamed into place only when write
// has succeeded, so a failure never leaves a partial file at name; it
// returns the bytes written.
func writeAtomic(name, pattern string, write func(io.Writer) error) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(name), pattern)
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := write(tmp); err != nil {
		tmp.Close()
		return 0, err
	}
	size, err := tmp.Seek(0, io.SeekCurrent)
	if err != nil {
		tmp.Close()
		return 0, err
	}
	if err := tmp.Close(); err != nil {
		return 0, err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return 0, err
	}
	return size, nil
}
