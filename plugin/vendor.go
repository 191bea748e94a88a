package plugin

import (
	"path"
	"strings"
)

// LibDirName is the folder of vendored packages: the runner puts it on
// sys.path right after the plugin's own directory, on every backend
// (docs/plugin-format.md, "Vendored packages").
const LibDirName = "lib"

// compiledSuffixes are the file endings of compiled extension modules and
// shared libraries. None can run in the sandbox: the wasm backend's
// CPython cannot load native code at all, and on docker and process a
// binary built for the author's machine would be code maid cannot inspect,
// outside the Python the sandbox was hardened for. So they are refused
// wherever they are in a package, not only under lib/, with the file named.
var compiledSuffixes = []string{".so", ".pyd", ".dylib", ".dll"}

// compiledRule says why the package file p is a compiled extension, or "".
func compiledRule(p string) string {
	base := strings.ToLower(path.Base(p))
	// libfoo.so.1.2 is a shared library too: drop numeric version parts.
	for {
		i := strings.LastIndexByte(base, '.')
		if i < 0 || i == len(base)-1 || strings.Trim(base[i+1:], "0123456789") != "" {
			break
		}
		base = base[:i]
	}
	for _, suf := range compiledSuffixes {
		if strings.HasSuffix(base, suf) {
			return "is a compiled extension module or shared library: plugins may only ship pure-Python code " +
				"(the wasm sandbox cannot load native code); vendor a pure-Python package in lib/ or use the host APIs instead"
		}
	}
	return ""
}

// vendorProblems reports compiled files and a lib that is not a folder.
func (t *tree) vendorProblems(ps *problems) {
	if _, ok := t.files[LibDirName]; ok {
		ps.add(LibDirName, "must be a directory of vendored pure-Python packages, not a file")
	}
	for _, f := range t.order {
		if rule := compiledRule(f); rule != "" {
			ps.add(f, "%s", rule)
		}
	}
}
