package dashboard

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/plugin"
)

// The marketplace (issue 18): the catalogue every signed-in user browses
// and installs from on the servers they manage, the consent page, version
// history with rollback, publishing (admins and trusted publishers) and
// the audit log.

// Market is what the marketplace needs of the engine beyond Engine;
// *engine.Engine implements it.
type Market interface {
	Publish(ctx context.Context, archive []byte, opt engine.PublishOptions) (engine.PublishResult, error)
	ServerVersion(ctx context.Context, serverID, pluginID string) (engine.VersionState, error)
	Versions(ctx context.Context, pluginID string) ([]engine.PluginVersion, error)
	VersionChangelog(ctx context.Context, pluginID, version string, maxChars int) (text string, stored bool, err error)
	LoadedPackage(pluginID, version string) (*plugin.Package, bool)
	NeedsConsent(ctx context.Context, serverID, pluginID string) ([]string, error)
	Approve(ctx context.Context, serverID, pluginID string) error
	ApproveShown(ctx context.Context, serverID, pluginID, version, digest string) error
	Rollback(ctx context.Context, serverID, pluginID string) (string, error)
	Pin(ctx context.Context, serverID, pluginID, version string) error
	FollowLatest(ctx context.Context, serverID, pluginID string) error
	Audit(ctx context.Context, q engine.AuditQuery) ([]engine.AuditEntry, error)
}

var _ Market = (*engine.Engine)(nil)

// Bounds of what the marketplace pages render.
const (
	// maxRenderedMarkdown bounds the HTML of one description or changelog.
	maxRenderedMarkdown = 256 << 10
	// maxChangelogShown bounds the Markdown of one changelog the versions
	// page renders (the widgets' markdown limit): goldmark's time grows
	// faster than its input, so 64 KiB of "[a](" took seconds.
	maxChangelogShown = 8 << 10
	// versionsPageSize is the versions one page of the history shows.
	versionsPageSize = 10
	// auditPageSize is the audit entries one page shows.
	auditPageSize = 100
	// maxCatalogueQuery bounds the search text.
	maxCatalogueQuery = 200
	// maxCatalogueServers bounds the servers shown under each plugin (each
	// costs store reads): an admin of a bot in thousands of servers sees
	// the first ones and acts on the others from their pages.
	maxCatalogueServers = 25
)

func (s *Site) market() (Market, error) {
	m, ok := s.eng.(Market)
	if !ok {
		return nil, errStatus(http.StatusNotFound, "not_found", "the marketplace is not available")
	}
	return m, nil
}

// withActor names the signed-in user in the request's context, for the
// engine's audit log.
func (s *Site) withActor(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if sess := sessionOf(c); sess != nil {
			actor := "user:" + sess.userID + " (" + sess.userName + ")"
			if sess.userID == "admin" && sess.admin {
				actor = "admin"
			}
			r := c.Request()
			c.SetRequest(r.WithContext(engine.WithActor(r.Context(), actor)))
		}
		return next(c)
	}
}

// canPublish: admins and trusted publishers may upload.
func (s *Site) canPublish(sess *session) bool {
	return sess != nil && (sess.admin || s.publishers[sess.userID])
}

// markdown renders a description or changelog through the renderer's
// cache: the same text costs one rendering, not one per page view.
func (s *Site) markdown(src string) template.HTML {
	h, err := s.renders.cachedMarkdown(src, maxRenderedMarkdown)
	if err != nil {
		return template.HTML(template.HTMLEscapeString("(too long to show)"))
	}
	return h
}

// capView is a capability with its plain words (plugin.DescribeCapability:
// the one table the catalogue and the consent page use).
type capView struct{ ID, Words string }

func capViews(caps []string) []capView {
	out := make([]capView, 0, len(caps))
	for _, c := range caps {
		out = append(out, capView{ID: c, Words: plugin.DescribeCapability(c)})
	}
	return out
}

type catalogueEntry struct {
	ID, Name, Version, Author string
	Description               template.HTML
	Caps                      []capView
	Icon                      string
	Screenshots               []string
	SigStatus, Publisher      string
	Servers                   []catalogueServer
	PerServer                 bool // the manifest asks for one instance per server
}

type catalogueServer struct {
	ID, Name, Running string
	Enabled, Pinned   bool
	Pending           []capView
}

func assetURL(id, file string) string { return "/marketplace/" + id + "/" + file }

func (s *Site) catalogueData(c echo.Context) (map[string]any, error) {
	m, err := s.market()
	if err != nil {
		return nil, err
	}
	ctx := c.Request().Context()
	sess := sessionOf(c)
	servers, err := s.servers(ctx, sess)
	if err != nil {
		return nil, err
	}
	q := strings.ToLower(strings.TrimSpace(c.QueryParam("q")))
	if len(q) > maxCatalogueQuery {
		q = q[:maxCatalogueQuery]
	}
	capFilter := c.QueryParam("cap")
	more := 0
	if len(servers) > maxCatalogueServers {
		more = len(servers) - maxCatalogueServers
		servers = servers[:maxCatalogueServers]
	}
	var rows []catalogueEntry
	for _, pkg := range s.eng.Plugins() {
		man := pkg.Manifest
		if capFilter != "" && !man.Has(capFilter) {
			continue
		}
		if q != "" && !strings.Contains(strings.ToLower(man.ID+" "+man.Name+" "+man.Description+" "+man.Author), q) {
			continue
		}
		version, _ := pkg.EffectiveVersion()
		e := catalogueEntry{ID: man.ID, Name: man.Name, Version: version, Author: man.Author,
			Description: s.markdown(man.Description), Caps: capViews(man.Capabilities), SigStatus: string(plugin.SigUnsigned),
			PerServer: man.Instances == plugin.InstancesPerServer}
		if vs, err := m.Versions(ctx, man.ID); err == nil && len(vs) > 0 {
			e.SigStatus, e.Publisher = vs[0].SigStatus, vs[0].Publisher
		}
		a := pkg.Assets()
		if a.Icon != "" {
			e.Icon = assetURL(man.ID, a.Icon)
		}
		for _, sc := range a.Screenshots {
			e.Screenshots = append(e.Screenshots, assetURL(man.ID, sc))
		}
		for _, sv := range servers {
			st, err := s.eng.PluginState(ctx, sv.ID, man.ID)
			if err != nil {
				return nil, err
			}
			vs, err := m.ServerVersion(ctx, sv.ID, man.ID)
			if err != nil {
				return nil, err
			}
			e.Servers = append(e.Servers, catalogueServer{ID: sv.ID, Name: sv.Name, Enabled: st.Enabled, Running: vs.Running, Pinned: vs.Pinned, Pending: capViews(vs.Pending)})
		}
		rows = append(rows, e)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].ID < rows[j].ID })
	return map[string]any{
		"Plugins": rows, "MaxMB": s.cfg.MaxUploadBytes >> 20, "Query": c.QueryParam("q"), "Cap": capFilter,
		"AllCaps": capViews(plugin.KnownCapabilities), "CanPublish": s.canPublish(sess), "IsAdmin": sess != nil && sess.admin, "MoreServers": more,
	}, nil
}

func (s *Site) cataloguePage(c echo.Context) error {
	d, err := s.catalogueData(c)
	if err != nil {
		return err
	}
	v := s.newView(c, "Marketplace", d)
	v.Active = "marketplace"
	v.Flash = flashOf(c)
	return s.renderView(c, http.StatusOK, "catalogue.html", v)
}

// marketAsset serves a catalogue image of a plugin's latest version: only
// the files Assets lists (assets/icon.*, assets/screenshot*), as images.
func (s *Site) marketAsset(c echo.Context) error {
	pkg, ok := s.eng.Plugin(c.Param("plugin"))
	if !ok {
		return errStatus(http.StatusNotFound, "not_found", "no such plugin")
	}
	file := strings.TrimPrefix(c.Param("*"), "/")
	a := pkg.Assets()
	if file != a.Icon && !slices.Contains(a.Screenshots, file) || file == "" {
		return errStatus(http.StatusNotFound, "not_found", "no such asset")
	}
	f, err := os.Open(filepath.Join(pkg.Dir, filepath.FromSlash(file)))
	if err != nil {
		return errStatus(http.StatusNotFound, "not_found", "no such asset")
	}
	defer f.Close()
	h := c.Response().Header()
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, max-age=300")
	return c.Stream(http.StatusOK, plugin.AssetType(file), io.LimitReader(f, plugin.MaxAssetBytes))
}

// publish is the upload form: admins and trusted publishers.
func (s *Site) publish(c echo.Context) error {
	sess := sessionOf(c)
	if !s.canPublish(sess) {
		return errAdminOnly
	}
	m, err := s.market()
	if err != nil {
		return err
	}
	fail := func(status int, lines []string, output []string) error {
		d, err := s.catalogueData(c)
		if err != nil {
			return err
		}
		d["Errors"], d["Output"] = lines, output
		v := s.newView(c, "Marketplace", d)
		v.Active = "marketplace"
		return s.renderView(c, status, "catalogue.html", v)
	}
	c.Request().Body = http.MaxBytesReader(c.Response(), c.Request().Body, s.cfg.MaxUploadBytes+1<<20)
	fh, err := c.FormFile("archive")
	if err != nil {
		return fail(http.StatusBadRequest, []string{"choose a plugin .zip file to upload (at most " + strconv.FormatInt(s.cfg.MaxUploadBytes>>20, 10) + " MiB)"}, nil)
	}
	f, err := fh.Open()
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	defer f.Close()
	archive, err := io.ReadAll(io.LimitReader(f, s.cfg.MaxUploadBytes+1))
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	if int64(len(archive)) > s.cfg.MaxUploadBytes {
		return fail(http.StatusRequestEntityTooLarge, []string{fmt.Sprintf("%s: larger than %d MiB", fh.Filename, s.cfg.MaxUploadBytes>>20)}, nil)
	}
	// Only an admin may replace a plugin's signer, or publish a lower
	// version or one published before (engine.PublishOptions): either
	// could put an old signed package, which anyone may have kept, back in
	// front of every server following the latest.
	force := c.FormValue("force") != ""
	if force && !sess.admin {
		return fail(http.StatusForbidden, []string{"only an admin may publish with force (a lower version, or one published before)"}, nil)
	}
	newSigner := sess.admin && c.FormValue("new_signer") != ""
	res, err := m.Publish(c.Request().Context(), archive, engine.PublishOptions{Force: force, NewSigner: newSigner})
	if err != nil {
		var se *engine.StartError
		if errors.As(err, &se) {
			return fail(http.StatusUnprocessableEntity, []string{"The plugin did not start in its sandbox: " + se.Err.Error()}, se.Output)
		}
		if errors.Is(err, engine.ErrInvalid) || errors.Is(err, engine.ErrConflict) || errors.Is(err, engine.ErrLimit) || errors.Is(err, plugin.ErrInvalid) || errors.Is(err, plugin.ErrSignature) {
			return fail(http.StatusUnprocessableEntity, plugin.Lines(err), nil)
		}
		return err
	}
	name := res.Package.Manifest.Name
	var msg string
	switch {
	case res.Unchanged:
		msg = fmt.Sprintf("%s %s is already the latest version: nothing changed.", name, res.Version)
	case res.Previous != "":
		msg = fmt.Sprintf("Published %s %s (was %s; settings and data kept).", name, res.Version, res.Previous)
	default:
		msg = fmt.Sprintf("Published %s %s.", name, res.Version)
	}
	if len(res.Pending) > 0 {
		msg += fmt.Sprintf(" It asks for new capabilities: %d server(s) keep %s until a manager approves.", len(res.Pending), res.Previous)
	}
	for _, w := range res.Warnings {
		msg += " Warning: " + w + "."
	}
	return c.Redirect(http.StatusSeeOther, flashURL(sess, "/marketplace", msg))
}

// marketServer is what the per-server marketplace pages start with: the
// server in the path (one the user manages) and the market.
func (s *Site) marketServer(c echo.Context) (*session, Server, Market, error) {
	sess, sv, err := s.serverParam(c)
	if err != nil {
		return nil, sv, nil, err
	}
	m, err := s.market()
	return sess, sv, m, err
}

// consentPage shows, in plain words, what the version a server would run
// may do, before it is enabled or updated there.
func (s *Site) consentPage(c echo.Context) error {
	_, sv, m, err := s.marketServer(c)
	if err != nil {
		return err
	}
	ctx, id := c.Request().Context(), c.Param("plugin")
	latest, ok := s.eng.Plugin(id)
	if !ok {
		return errStatus(http.StatusNotFound, "not_found", "no such plugin")
	}
	st, err := s.eng.PluginState(ctx, sv.ID, id)
	if err != nil {
		return err
	}
	vs, err := m.ServerVersion(ctx, sv.ID, id)
	if err != nil {
		return err
	}
	version, _ := latest.EffectiveVersion()
	d := map[string]any{
		"ID": id, "Name": latest.Manifest.Name, "Version": version, "Running": vs.Running, "Enabled": st.Enabled,
		"Caps": capViews(latest.Manifest.Capabilities), "New": capViews(vs.Pending), "Update": len(vs.Pending) > 0,
		// Posted back: the approval applies only to what this page shows.
		"Digest":    engine.CapabilityDigest(latest.Manifest.Capabilities),
		"PerServer": latest.Manifest.Instances == plugin.InstancesPerServer,
	}
	v := s.serverView(c, sv, "marketplace", "Allow "+latest.Manifest.Name, d)
	return s.renderView(c, http.StatusOK, "consent.html", v)
}

// consent records a manager's approval of the latest version's
// capabilities on a server and enables the plugin there.
func (s *Site) consent(c echo.Context) error {
	sess, sv, m, err := s.marketServer(c)
	if err != nil {
		return err
	}
	ctx, id := c.Request().Context(), c.Param("plugin")
	// The page posts the version and capabilities it showed; a version
	// published since (or a form without them) approves nothing: the
	// manager sees the consent page again, with what is latest now.
	version, digest := c.FormValue("version"), c.FormValue("caps_digest")
	err = engine.ErrStale
	if version != "" && digest != "" {
		err = m.ApproveShown(ctx, sv.ID, id, version, digest)
	}
	if errors.Is(err, engine.ErrStale) {
		return c.Redirect(http.StatusSeeOther, flashURL(sess, "/s/"+sv.ID+"/p/"+id+"/consent",
			"This plugin changed since the page was shown (a new version was published): nothing was approved. Review what it asks for now, then allow it again."))
	}
	if err != nil {
		return err
	}
	st, err := s.eng.PluginState(ctx, sv.ID, id)
	if err != nil {
		return err
	}
	if !st.Enabled {
		if err := s.eng.SetEnabled(ctx, sv.ID, id, true); err != nil {
			return err
		}
	}
	return c.Redirect(http.StatusSeeOther, flashURL(sess, "/s/"+sv.ID+"/p/"+id+"/versions", "Allowed and enabled "+st.Package.Manifest.Name+" "+st.Version+" on "+sv.Name+"."))
}

type versionRow struct {
	engine.PluginVersion
	Changelog        template.HTML
	ChangelogCut     bool // only its first maxChangelogShown bytes are shown
	NoChangelog      bool // published before changelogs were kept
	Caps             []capView
	Running, Current bool
}

// changelogHTML is one version's changelog as the versions page shows it:
// read bounded from the store (never from the archive), cut to
// maxChangelogShown bytes, rendered through the cache.
func (s *Site) changelogHTML(ctx context.Context, m Market, id string, r *versionRow) error {
	text, stored, err := m.VersionChangelog(ctx, id, r.Version, maxChangelogShown+1)
	if errors.Is(err, engine.ErrNotFound) {
		return nil // pruned since the list was read
	}
	if err != nil {
		return err
	}
	r.NoChangelog = !stored
	if len(text) > maxChangelogShown {
		cut := maxChangelogShown
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text, r.ChangelogCut = text[:cut], true
	}
	if text != "" {
		r.Changelog = s.markdown(text)
	}
	return nil
}

// versionsPage is a plugin's history on one server: changelogs, the
// running version, pin, rollback and follow-latest. It shows
// versionsPageSize versions, newest first, from ?before=<seq>, and reads
// nothing but the store: no version's package is loaded to show it.
func (s *Site) versionsPage(c echo.Context) error {
	_, sv, m, err := s.marketServer(c)
	if err != nil {
		return err
	}
	ctx, id := c.Request().Context(), c.Param("plugin")
	latest, ok := s.eng.Plugin(id)
	if !ok {
		return errStatus(http.StatusNotFound, "not_found", "no such plugin")
	}
	vs, err := m.ServerVersion(ctx, sv.ID, id)
	if err != nil {
		return err
	}
	list, err := m.Versions(ctx, id)
	if err != nil {
		return err
	}
	if before, err := strconv.ParseInt(c.QueryParam("before"), 10, 64); err == nil && before > 0 {
		i := slices.IndexFunc(list, func(v engine.PluginVersion) bool { return v.Seq < before })
		if i < 0 {
			i = len(list)
		}
		list = list[i:]
	}
	var older int64
	if len(list) > versionsPageSize {
		list = list[:versionsPageSize]
		older = list[len(list)-1].Seq
	}
	rows := make([]versionRow, 0, len(list))
	for _, v := range list {
		r := versionRow{PluginVersion: v, Caps: capViews(v.Capabilities), Running: v.Version == vs.Running}
		if err := s.changelogHTML(ctx, m, id, &r); err != nil {
			return err
		}
		rows = append(rows, r)
	}
	st, err := s.eng.PluginState(ctx, sv.ID, id)
	if err != nil {
		return err
	}
	notes, err := m.Audit(ctx, engine.AuditQuery{ServerIDs: []string{sv.ID}, Limit: engine.MaxAuditPage})
	if err != nil {
		return err
	}
	var resets []engine.AuditEntry
	for _, n := range notes {
		if n.PluginID == id && n.Action == "options_reset" && len(resets) < 5 {
			resets = append(resets, n)
		}
	}
	d := map[string]any{"ID": id, "Name": latest.Manifest.Name, "State": vs, "Versions": rows, "Enabled": st.Enabled,
		"Pending": capViews(vs.Pending), "Resets": resets, "Older": older, "MaxChangelogKiB": maxChangelogShown >> 10}
	v := s.serverView(c, sv, "marketplace", latest.Manifest.Name+" versions", d)
	v.Flash = flashOf(c)
	return s.renderView(c, http.StatusOK, "versions.html", v)
}

// versionAction is rollback, pin or follow-latest on one server.
func (s *Site) versionAction(c echo.Context) error {
	sess, sv, m, err := s.marketServer(c)
	if err != nil {
		return err
	}
	ctx, id := c.Request().Context(), c.Param("plugin")
	var msg string
	switch c.Param("action") {
	case "rollback":
		v, err := m.Rollback(ctx, sv.ID, id)
		if err != nil {
			return err
		}
		msg = "Rolled back to " + v + " (pinned there; its settings and data are this server's as before)."
	case "pin":
		v := c.FormValue("version")
		if err := m.Pin(ctx, sv.ID, id, v); err != nil {
			return err
		}
		msg = "Pinned to " + v + "."
	case "follow":
		if err := m.FollowLatest(ctx, sv.ID, id); err != nil {
			return err
		}
		msg = "Following the latest version."
	default:
		return errStatus(http.StatusNotFound, "not_found", "no such action")
	}
	return c.Redirect(http.StatusSeeOther, flashURL(sess, "/s/"+sv.ID+"/p/"+id+"/versions", msg))
}

// auditPage: admins see every entry; a manager sees the entries of the
// servers they manage (never server-less ones such as publishing).
func (s *Site) auditPage(c echo.Context) error {
	m, err := s.market()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	sess := sessionOf(c)
	q := engine.AuditQuery{Limit: auditPageSize}
	if before, err := strconv.ParseInt(c.QueryParam("before"), 10, 64); err == nil && before > 0 {
		q.Before = before
	}
	names := map[string]string{}
	servers, err := s.servers(ctx, sess)
	if err != nil {
		return err
	}
	for _, sv := range servers {
		names[sv.ID] = sv.Name
		q.ServerIDs = append(q.ServerIDs, sv.ID)
	}
	q.All = sess.admin
	entries, err := m.Audit(ctx, q)
	if err != nil {
		return err
	}
	var next int64
	if len(entries) == auditPageSize {
		next = entries[len(entries)-1].ID
	}
	v := s.newView(c, "Audit log", map[string]any{"Entries": entries, "Names": names, "Next": next})
	v.Active = "audit"
	return s.renderView(c, http.StatusOK, "audit.html", v)
}
