// Package plugin reads, validates, packs and safely unpacks maid plugin
// packages: a directory or zip holding manifest.json or plugin.json, the
// script, and optionally a dashboard (dashboard_manifest.json or
// dashboard/index.html). The format is described in docs/plugin-format.md;
// spec 004 (plugin.json) and spec 000 (SDK) are its sources.
//
// Every parser reports all problems at once, as a *ValidationError (which
// wraps ErrInvalid), and never panics on any input.
package plugin

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// DashboardMode says how a plugin's dashboard is built.
type DashboardMode int

const (
	ModeNone     DashboardMode = iota // no dashboard
	ModeManifest                      // dashboard_manifest.json: widgets + Python handlers
	ModeIframe                        // dashboard/index.html served in a sandboxed iframe
)

func (m DashboardMode) String() string {
	switch m {
	case ModeNone:
		return "none"
	case ModeManifest:
		return "manifest"
	case ModeIframe:
		return "iframe"
	}
	return fmt.Sprintf("DashboardMode(%d)", int(m))
}

// Package is a loaded, valid plugin package.
type Package struct {
	Manifest     *Manifest
	ManifestFile string             // "manifest.json" or "plugin.json"
	Dashboard    *DashboardManifest // set in ModeManifest
	Mode         DashboardMode
	Dir          string   // absolute directory holding the files
	Files        []string // every packaged file, slash paths relative to Dir, sorted

	tmp bool // Dir is a temporary directory of Load's, removed by Close
}

// Close removes the temporary directory a zip was unpacked into. It is a
// no-op for packages loaded from a directory, and safe to call twice.
func (p *Package) Close() error {
	if p == nil || !p.tmp {
		return nil
	}
	p.tmp = false
	if err := os.RemoveAll(p.Dir); err != nil {
		return fmt.Errorf("remove unpacked plugin: %w", err)
	}
	return nil
}

// Load loads a plugin from a directory or a zip file. A zip is unpacked
// (with Unpack's checks) into a new temporary directory which the returned
// Package owns: call Close to remove it. On error nothing is left behind.
func Load(p string) (*Package, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("load plugin: %w", err)
	}
	if fi.IsDir() {
		return LoadDir(p)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("load plugin %s: not a directory or a zip file", p)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("load plugin: %w", err)
	}
	defer f.Close()
	pkg, err := loadZip(f, fi.Size(), filepath.Base(p))
	if err != nil {
		return nil, err
	}
	return pkg, nil
}

// LoadZip loads a plugin from a zip held by r (size bytes), e.g. an upload.
// Like Load, the Package owns a temporary directory: call Close.
func LoadZip(r io.ReaderAt, size int64) (*Package, error) {
	return loadZip(r, size, "zip")
}

func loadZip(r io.ReaderAt, size int64, label string) (*Package, error) {
	tmp, err := os.MkdirTemp("", "maid-plugin-")
	if err != nil {
		return nil, fmt.Errorf("load plugin: %w", err)
	}
	if err := Unpack(r, size, tmp); err != nil {
		os.RemoveAll(tmp)
		var ve *ValidationError
		if errors.As(err, &ve) {
			ve.File = label
		}
		return nil, err
	}
	pkg, err := LoadDir(tmp)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	pkg.tmp = true
	return pkg, nil
}

// LoadDir loads and validates the plugin in dir. The error, if the package
// is invalid, joins one *ValidationError per file with problems (see Lines).
func LoadDir(dir string) (*Package, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("load plugin %s: %w", dir, err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("load plugin: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("load plugin %s: not a directory", dir)
	}
	t, tps, err := scanDir(abs)
	if err != nil {
		return nil, err
	}
	if t.truncated { // nothing below would be meaningful
		return nil, tps.err("")
	}
	pkg := &Package{Dir: abs, Files: t.order}
	t.vendorProblems(tps)

	// The manifest.
	var m *Manifest
	mps := &problems{}
	_, hasManifest := t.files[manifestFileName]
	_, hasPlugin := t.files[pluginFileName]
	for _, f := range []string{manifestFileName, pluginFileName} {
		if t.dirs[f] {
			tps.add(f, "must be a file, not a directory")
		}
	}
	switch {
	case hasManifest && hasPlugin:
		tps.add(pluginFileName, "cannot be used together with manifest.json (same schema): keep one")
	case !hasManifest && !hasPlugin:
		tps.add("", "no manifest.json or plugin.json at the package root%s", nestedHint(t))
	default:
		pkg.ManifestFile = manifestFileName
		if hasPlugin {
			pkg.ManifestFile = pluginFileName
		}
		if t.files[pkg.ManifestFile] <= MaxManifestBytes { // else scanDir reported it
			data, err := readLimited(filepath.Join(abs, pkg.ManifestFile), MaxManifestBytes)
			if err != nil {
				return nil, fmt.Errorf("load plugin: %w", err)
			}
			m, mps = parseManifest(data, pkg.ManifestFile, t.scriptRule)
		}
	}
	pkg.Manifest = m

	// The dashboard: manifest mode or iframe mode, never both.
	var dps *problems
	_, hasDM := t.files[dashboardManifestFileName]
	hasDashDir := t.dirs[dashboardDirName]
	if t.dirs[dashboardManifestFileName] {
		tps.add(dashboardManifestFileName, "must be a file, not a directory")
	}
	if _, ok := t.files[dashboardDirName]; ok {
		tps.add(dashboardDirName, "must be a directory (iframe mode: dashboard/index.html), not a file")
	}
	switch {
	case hasDM && hasDashDir:
		tps.add(dashboardDirName+"/", "cannot be used together with dashboard_manifest.json: pick manifest mode (dashboard_manifest.json) or iframe mode (dashboard/)")
	case hasDashDir:
		pkg.Mode = ModeIframe
		if _, ok := t.files[dashboardIndexName]; !ok {
			tps.add(dashboardIndexName, "is missing: iframe mode (a dashboard/ directory) needs dashboard/index.html as its entry point")
		}
	case hasDM:
		pkg.Mode = ModeManifest
	}
	if hasDM { // also when both modes are present: report its problems now too
		if t.files[dashboardManifestFileName] <= MaxManifestBytes {
			data, err := readLimited(filepath.Join(abs, dashboardManifestFileName), MaxManifestBytes)
			if err != nil {
				return nil, fmt.Errorf("load plugin: %w", err)
			}
			pkg.Dashboard, dps = parseDashboard(data)
		}
	}

	var errs []error
	if err := tps.err(""); err != nil {
		errs = append(errs, err)
	}
	if err := mps.err(pkg.ManifestFile); err != nil {
		errs = append(errs, err)
	}
	if dps != nil {
		if err := dps.err(dashboardManifestFileName); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return pkg, nil
}

// scriptRule says why s (a clean relative path) is not a packaged file, or "".
func (t *tree) scriptRule(s string) string {
	if _, ok := t.files[s]; ok {
		return ""
	}
	switch {
	case t.dirs[s]:
		return fmt.Sprintf("%q is a directory, not a file", s)
	case ignoredPath(s):
		return fmt.Sprintf("%q is in an ignored path (names starting with \".\" and __pycache__ are never packaged)", s)
	}
	msg := fmt.Sprintf("file %q does not exist in the package", s)
	for _, f := range t.order {
		if strings.EqualFold(f, s) {
			msg += fmt.Sprintf(" (found %q: names are case-sensitive)", f)
			break
		}
	}
	return msg
}

// nestedHint explains the most common packaging mistake: zipping the folder
// instead of its contents.
func nestedHint(t *tree) string {
	for _, f := range t.order {
		if strings.Count(f, "/") == 1 {
			if b := path.Base(f); b == manifestFileName || b == pluginFileName {
				return fmt.Sprintf(" (found %s: package the folder's contents, not the folder)", f)
			}
		}
	}
	return ""
}

func readLimited(p string, limit int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Base(p), err)
	}
	return data, nil
}
