package dashboard

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/labstack/echo/v4"
	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"

	"github.com/maidhq/maid/web"
)

// renderer turns untrusted plugin text into safe HTML.
type renderer struct {
	ugc *bluemonday.Policy
	md  goldmark.Markdown
	// mdNoTables is md without GFM tables, for sources whose tables could
	// expand too much (maxTableCells).
	mdNoTables goldmark.Markdown
	cache      mdCache
}

// maxCachedMarkdown bounds the renderings the cache keeps (each at most
// its limit, 256 KiB for descriptions and changelogs).
const maxCachedMarkdown = 256

// mdCache keeps rendered Markdown by the hash of its source and limit:
// descriptions and changelogs are the same text on every view, and a
// rendering can cost much more than its size (goldmark is worse than
// linear on some inputs). Concurrent views of text not yet rendered wait
// for one rendering.
type mdCache struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]*mdEntry
}

type mdEntry struct {
	done chan struct{}
	html template.HTML
	err  error
}

// cachedMarkdown is markdown through the cache.
func (r *renderer) cachedMarkdown(src string, limit int) (template.HTML, error) {
	key := sha256.Sum256([]byte(strconv.Itoa(limit) + "\x00" + src))
	c := &r.cache
	c.mu.Lock()
	if e, ok := c.m[key]; ok {
		c.mu.Unlock()
		<-e.done
		return e.html, e.err
	}
	if c.m == nil {
		c.m = map[[sha256.Size]byte]*mdEntry{}
	}
	if len(c.m) >= maxCachedMarkdown {
		for k, e := range c.m { // drop one finished entry (any)
			select {
			case <-e.done:
				delete(c.m, k)
			default:
				continue
			}
			break
		}
	}
	e := &mdEntry{done: make(chan struct{})}
	c.m[key] = e
	c.mu.Unlock()
	e.html, e.err = r.markdown(src, limit)
	close(e.done)
	return e.html, e.err
}

// maxTableCells bounds the cells GFM tables may give a markdown source. A
// table pads every row to its header's width, so a few KiB of one wide
// header and many short lines are millions of cells, all built in memory
// before anything is written (8 KiB became 400 MiB of allocations).
const maxTableCells = 5000

func newRenderer() *renderer {
	return &renderer{
		ugc: bluemonday.UGCPolicy(),
		// No html.WithUnsafe: raw HTML in markdown is dropped, and dangerous
		// link schemes are not rendered; the UGC policy then cleans the rest.
		md:         goldmark.New(goldmark.WithExtensions(extension.GFM)),
		mdNoTables: goldmark.New(goldmark.WithExtensions(extension.Linkify, extension.Strikethrough, extension.TaskList)),
	}
}

// tableCellsBound is at least the number of cells GFM tables in src can
// have: the most columns a delimiter row (|---|---|, also inside a quote
// or a list item) can have, from any line with a '-', times the number of
// lines.
func tableCellsBound(src string) int {
	lines, cols := strings.Count(src, "\n")+1, 0
	for line := range strings.Lines(src) {
		if strings.Contains(line, "-") {
			cols = max(cols, strings.Count(line, "|")+1)
		}
	}
	return cols * lines
}

// sanitize cleans plugin-supplied HTML (option descriptions, spec 004).
func (r *renderer) sanitize(s string) template.HTML {
	return template.HTML(r.ugc.Sanitize(s)) // #nosec: sanitized by the UGC policy
}

// markdown renders markdown without raw HTML, then sanitizes the result.
// The HTML may be at most limit bytes (else errTooLarge): a few bytes of
// markdown can expand a lot (a link reference used many times, deep
// nesting), and the limit stops that while it is written, not after.
func (r *renderer) markdown(src string, limit int) (template.HTML, error) {
	lw := &limitWriter{limit: limit}
	md := r.md
	if tableCellsBound(src) > maxTableCells {
		md = r.mdNoTables // the tables show as their text
	}
	if err := md.Convert([]byte(src), lw); err != nil || lw.over {
		if lw.over {
			return "", errTooLarge
		}
		return "", fmt.Errorf("render markdown: %w", err)
	}
	return template.HTML(r.ugc.SanitizeBytes(lw.buf.Bytes())), nil
}

// errTooLarge: a rendering went over its byte limit.
var errTooLarge = errors.New("rendered HTML over its size limit")

// limitWriter keeps at most limit bytes; past that it keeps nothing more,
// sets over and fails every write.
type limitWriter struct {
	buf   bytes.Buffer
	limit int
	over  bool
}

func (w *limitWriter) Write(p []byte) (int, error) {
	if w.over || w.buf.Len()+len(p) > w.limit {
		w.over = true
		return 0, errTooLarge
	}
	return w.buf.Write(p)
}

// templates holds one parsed set per page (layout + partials + the page).
type templates struct {
	pages map[string]*template.Template
	frag  *template.Template // widget fragments (no layout)
}

func initials(name string) string {
	var out []rune
	for _, w := range strings.Fields(name) {
		for _, r := range w {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				out = append(out, unicode.ToUpper(r))
				break
			}
		}
		if len(out) == 2 {
			break
		}
	}
	if len(out) == 0 {
		return "?"
	}
	return string(out)
}

var funcs = template.FuncMap{
	"initials": initials,
	"add":      func(a, b int) int { return a + b },
	"sub":      func(a, b int) int { return a - b },
	"lower":    strings.ToLower,
}

func loadTemplates() (*templates, error) {
	rnd := newRenderer()
	fm := template.FuncMap{"sanitize": rnd.sanitize}
	for k, v := range funcs {
		fm[k] = v
	}
	base, err := template.New("layout").Funcs(fm).ParseFS(web.Templates, "layout.html")
	if err != nil {
		return nil, fmt.Errorf("parse layout: %w", err)
	}
	names, err := fs.Glob(web.Templates, "*.html")
	if err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	t := &templates{pages: map[string]*template.Template{}}
	for _, n := range names {
		switch n {
		case "layout.html":
			continue
		case "widgets.html":
			if t.frag, err = template.New("widgets.html").Funcs(fm).ParseFS(web.Templates, n); err != nil {
				return nil, fmt.Errorf("parse %s: %w", n, err)
			}
			continue
		}
		p, err := template.Must(base.Clone()).ParseFS(web.Templates, n)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", n, err)
		}
		t.pages[n] = p
	}
	if t.frag == nil {
		return nil, fmt.Errorf("parse templates: widgets.html missing")
	}
	return t, nil
}

// view is what every page template gets.
type view struct {
	Title    string
	User     *userView
	CSRF     string
	Server   *Server // the server the page is about, if any
	HasSim   bool
	Active   string // nav item
	Flash    string
	FlashErr bool
	Data     any
}

type userView struct {
	ID     string
	Name   string
	Avatar string
	Admin  bool
}

func (s *Site) newView(c echo.Context, title string, data any) *view {
	v := &view{Title: title, HasSim: s.cfg.Simulator != nil, Data: data}
	if sess := sessionOf(c); sess != nil {
		v.User = &userView{ID: sess.userID, Name: sess.userName, Avatar: sess.avatar, Admin: sess.admin}
		v.CSRF = sess.csrf
	}
	return v
}

// serverView is the view of a page about server sv, under the nav item
// active.
func (s *Site) serverView(c echo.Context, sv Server, active, title string, data any) *view {
	v := s.newView(c, title, data)
	v.Server = &sv
	v.Active = active
	return v
}

func (s *Site) render(c echo.Context, status int, page, title string, data any) error {
	return s.renderView(c, status, page, s.newView(c, title, data))
}

func (s *Site) renderView(c echo.Context, status int, page string, v *view) error {
	t, ok := s.tmpl.pages[page]
	if !ok {
		return fmt.Errorf("render: no template %s", page)
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", v); err != nil {
		return fmt.Errorf("render %s: %w", page, err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.HTMLBlob(status, b.Bytes())
}

func (s *Site) renderLogin(c echo.Context, status int, msg string) error {
	v := s.newView(c, "Sign in", map[string]any{"OAuth": s.cfg.OAuth.enabled(), "Error": msg, "Nonce": s.signInNonce(c)})
	v.User = nil
	return s.renderView(c, status, "login.html", v)
}

func (s *Site) loginPage(c echo.Context) error {
	if sessionOf(c) != nil {
		return c.Redirect(http.StatusSeeOther, localPath(c.QueryParam("next"), "/servers"))
	}
	s.setNext(c, c.QueryParam("next"))
	return s.renderLogin(c, http.StatusOK, "")
}
