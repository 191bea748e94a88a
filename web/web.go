// Package web holds the dashboard's assets, embedded in the binary: HTML
// templates (html/template), stylesheets and hand-written scripts. There is
// no build step and nothing is loaded from another origin.
package web

import (
	"embed"
	"io/fs"
)

//go:embed templates static
var files embed.FS

// Templates is the templates/ directory; Static is static/, served under
// /static/.
var (
	Templates = sub("templates")
	Static    = sub("static")
)

func sub(dir string) fs.FS {
	f, err := fs.Sub(files, dir)
	if err != nil {
		panic("web: " + err.Error()) // unreachable: dir is embedded above
	}
	return f
}
