package dashboard

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/plugin"
)

func (s *Site) home(c echo.Context) error {
	return c.Redirect(http.StatusSeeOther, "/servers")
}

func (s *Site) serversPage(c echo.Context) error {
	list, err := s.servers(c.Request().Context(), sessionOf(c))
	if err != nil {
		return err
	}
	v := s.newView(c, "Servers", map[string]any{"Servers": list})
	v.Active = "servers"
	return s.renderView(c, http.StatusOK, "servers.html", v)
}

type pluginRow struct {
	ID          string
	Name        string
	Version     string
	Description string
	Mode        string
	Enabled     bool
}

func (s *Site) serverPage(c echo.Context) error {
	_, sv, err := s.serverParam(c)
	if err != nil {
		return err
	}
	states, err := s.eng.ServerPlugins(c.Request().Context(), sv.ID)
	if err != nil {
		return err
	}
	rows := make([]pluginRow, 0, len(states))
	for _, st := range states {
		m := st.Package.Manifest
		rows = append(rows, pluginRow{ID: m.ID, Name: m.Name, Version: m.Version, Description: m.Description, Mode: st.Package.Mode.String(), Enabled: st.Enabled})
	}
	v := s.serverView(c, sv, "servers", sv.Name, map[string]any{"Plugins": rows})
	return s.renderView(c, http.StatusOK, "server.html", v)
}

// localPath returns p if it is a path on this site, else def (no open
// redirects). Browsers drop tabs and newlines from a Location and read a
// backslash as a slash, so "/\t/evil.example" is "//evil.example" to them:
// p must be printable ASCII without a backslash, start with one "/" and
// parse as a path alone (no scheme, host or user).
func localPath(p, def string) string {
	if p == "" || p[0] != '/' || len(p) > 1 && p[1] == '/' {
		return def
	}
	for i := 0; i < len(p); i++ {
		if p[i] <= ' ' || p[i] >= 0x7f || p[i] == '\\' {
			return def
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return def
	}
	// Never back into sign-in: "/auth/discord?next=/auth/discord?next=..."
	// would run one Discord round trip per level from a single navigation
	// (attack P2).
	if u.Path == "/auth" || strings.HasPrefix(u.Path, "/auth/") {
		return def
	}
	return p
}

// flashURL is path with a status message to show once: the message goes
// in the URL with a MAC keyed by the session's CSRF token, so a page shows
// only messages maid wrote for this session (not any text a link carries).
func flashURL(sess *session, path, msg string) string {
	return path + "?flash=" + url.QueryEscape(msg) + "&fmac=" + flashMAC(sess, msg)
}

func flashMAC(sess *session, msg string) string {
	m := hmac.New(sha256.New, []byte(sess.csrf))
	m.Write([]byte("maid flash\x00" + msg))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// flashOf returns the request's flash message if maid wrote it for this
// session, else "".
func flashOf(c echo.Context) string {
	sess, msg := sessionOf(c), c.QueryParam("flash")
	if sess == nil || msg == "" || !hmac.Equal([]byte(c.QueryParam("fmac")), []byte(flashMAC(sess, msg))) {
		return ""
	}
	return msg
}

func (s *Site) setEnabled(c echo.Context) error {
	_, sv, err := s.serverParam(c)
	if err != nil {
		return err
	}
	on, err := strconv.ParseBool(c.FormValue("enabled"))
	if err != nil {
		return errStatus(http.StatusBadRequest, "invalid", "enabled must be true or false")
	}
	if on { // what it may do is shown first (market.go)
		if m, err := s.market(); err == nil {
			need, err := m.NeedsConsent(c.Request().Context(), sv.ID, c.Param("plugin"))
			if err != nil {
				return err
			}
			if len(need) > 0 {
				return c.Redirect(http.StatusSeeOther, "/s/"+sv.ID+"/p/"+c.Param("plugin")+"/consent")
			}
		}
	}
	if err := s.eng.SetEnabled(c.Request().Context(), sv.ID, c.Param("plugin"), on); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, localPath(c.FormValue("next"), "/s/"+sv.ID))
}

// optionView is one option of the options form (spec 004).
type optionView struct {
	ID          string
	Name        string
	Description string // HTML; the template sanitizes it
	Type        string
	Checked     bool
	Value       string
	Min, Max    string
	MaxLen      int // string options: plugin.MaxOptionStringLen
	Choices     []plugin.Choice
	Error       string
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func optionViews(m *plugin.Manifest, values map[string]any, errs map[string]string) []optionView {
	out := make([]optionView, 0, len(m.Options))
	for _, o := range m.Options {
		ov := optionView{ID: o.ID, Name: o.Name, Description: o.Description, Type: o.Type, Choices: o.Choices, Error: errs[o.ID]}
		if o.Min != nil {
			ov.Min = fmtFloat(*o.Min)
		}
		if o.Max != nil {
			ov.Max = fmtFloat(*o.Max)
		}
		if o.Type == plugin.OptionString {
			ov.MaxLen = plugin.MaxOptionStringLen
		}
		switch v := values[o.ID].(type) {
		case bool:
			ov.Checked = v
		case float64:
			ov.Value = fmtFloat(v)
		case string:
			ov.Value = v
		}
		out = append(out, ov)
	}
	return out
}

type pageTab struct {
	ID, Title string
	Active    bool
}

type widgetSlot struct {
	ID, Type, Title, Src string
	Wide                 bool
	Refresh              int // seconds; 0: on data changes only
}

type pluginPageData struct {
	Plugin      pluginRow
	Caps        []string
	Options     []optionView
	FormErrors  []string
	Saved       bool
	Pages       []pageTab
	Widgets     []widgetSlot
	VersionURL  string // manifest mode: the plugin's data version on this server (live widgets)
	Frame       string // iframe mode: document URL
	PluginID    string
	ServerID    string
	Page        string // iframe mode: the page MaidSDK.navigateTo asked for
	NoDashboard bool
	// Iframe mode, when the iframe is not served (iframe.go): why, and
	// the digest of the files an admin would approve.
	FrameBlocked, FrameReason, FrameDigest string
	// FrameApproved: served because an admin approved it (approve mode).
	FrameApproved bool
}

var pageIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (s *Site) pluginPage(c echo.Context) error {
	sess, sv, err := s.serverParam(c)
	if err != nil {
		return err
	}
	st, err := s.eng.PluginState(c.Request().Context(), sv.ID, c.Param("plugin"))
	if err != nil {
		return err
	}
	return s.renderPluginPage(c, http.StatusOK, sess, sv, st, st.Options, nil, nil, c.QueryParam("saved") == "1")
}

func (s *Site) renderPluginPage(c echo.Context, status int, sess *session, sv Server, st engine.PluginState, values map[string]any, fieldErrs map[string]string, formErrs []string, saved bool) error {
	pkg := st.Package
	m := pkg.Manifest
	d := pluginPageData{
		Plugin:     pluginRow{ID: m.ID, Name: m.Name, Version: m.Version, Description: m.Description, Mode: pkg.Mode.String(), Enabled: st.Enabled},
		Caps:       m.Capabilities,
		Options:    optionViews(m, values, fieldErrs),
		FormErrors: formErrs,
		Saved:      saved,
		PluginID:   m.ID,
		ServerID:   sv.ID,
	}
	switch pkg.Mode {
	case plugin.ModeManifest:
		page := &pkg.Dashboard.Pages[0]
		if p := pkg.Dashboard.Page(c.QueryParam("page")); p != nil {
			page = p
		}
		for _, p := range pkg.Dashboard.Pages {
			d.Pages = append(d.Pages, pageTab{ID: p.ID, Title: p.Title, Active: p.ID == page.ID})
		}
		d.VersionURL = "/s/" + sv.ID + "/p/" + m.ID + "/version"
		d.Page = page.ID // the options form comes back to this tab
		for _, w := range page.Widgets {
			d.Widgets = append(d.Widgets, widgetSlot{
				ID: w.ID, Type: w.Type, Title: w.Title,
				Src:     "/s/" + sv.ID + "/p/" + m.ID + "/w/" + page.ID + "/" + w.ID,
				Wide:    w.Type == plugin.WidgetTable || w.Type == plugin.WidgetForm || w.Type == plugin.WidgetChart,
				Refresh: w.RefreshSeconds,
			})
		}
	case plugin.ModeIframe:
		fst, err := s.frame(c.Request().Context(), pkg)
		if err != nil {
			return err
		}
		if !fst.Served {
			d.FrameBlocked, d.FrameReason, d.FrameDigest = frameMessage(fst.Reason), fst.Reason, fst.Digest
			break
		}
		d.FrameApproved = s.cfg.IframeDashboards == IframeApprove
		d.Frame = frameURL(s.eng, m.ID, st.Version)
		// MaidSDK.navigateTo(page) reloads with ?page=; the plugin reads it
		// from its own location.search (and getContext().page).
		if pg := c.QueryParam("page"); pageIDRe.MatchString(pg) {
			d.Frame += "?page=" + pg
			d.Page = pg
		}
	default:
		d.NoDashboard = true
	}
	v := s.serverView(c, sv, "servers", m.Name, d)
	return s.renderView(c, status, "plugin.html", v)
}

// formOptions turns the options form into JSON values for the engine and
// the strings to show again if validation fails.
func formOptions(c echo.Context, m *plugin.Manifest) (map[string]json.RawMessage, map[string]any) {
	vals := map[string]json.RawMessage{}
	shown := map[string]any{}
	for _, o := range m.Options {
		raw := c.FormValue("opt_" + o.ID)
		switch o.Type {
		case plugin.OptionBool:
			on := raw != ""
			vals[o.ID], _ = json.Marshal(on)
			shown[o.ID] = on
		case plugin.OptionNumber:
			raw = strings.TrimSpace(raw)
			shown[o.ID] = raw
			if raw == "" {
				vals[o.ID] = json.RawMessage("null") // not set: the default applies
				continue
			}
			f, err := strconv.ParseFloat(raw, 64)
			if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				vals[o.ID], _ = json.Marshal(raw) // the engine reports "must be a number"
				continue
			}
			vals[o.ID], _ = json.Marshal(f)
		default:
			vals[o.ID], _ = json.Marshal(raw)
			shown[o.ID] = raw
		}
	}
	return vals, shown
}

// fieldErrors splits option validation problems into per-option messages
// and the rest.
func fieldErrors(m *plugin.Manifest, err error) (map[string]string, []string, bool) {
	var ve *plugin.ValidationError
	if !errors.As(err, &ve) {
		return nil, nil, false
	}
	byPath := map[string]string{}
	for _, o := range m.Options {
		byPath[o.ID] = o.ID
		byPath[strconv.Quote(o.ID)] = o.ID
	}
	fields := map[string]string{}
	var rest []string
	for _, p := range ve.Problems {
		if id, ok := byPath[p.Path]; ok {
			if fields[id] == "" {
				fields[id] = p.Rule
			}
			continue
		}
		rest = append(rest, p.String())
	}
	return fields, rest, true
}

func (s *Site) saveOptions(c echo.Context) error {
	sess, sv, err := s.serverParam(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	st, err := s.eng.PluginState(ctx, sv.ID, c.Param("plugin"))
	if err != nil {
		return err
	}
	m := st.Package.Manifest
	vals, shown := formOptions(c, m)
	if _, err := s.eng.SetOptions(ctx, sv.ID, m.ID, vals); err != nil {
		fields, rest, ok := fieldErrors(m, err)
		if !ok {
			return err
		}
		for id, v := range st.Options {
			if _, set := shown[id]; !set {
				shown[id] = v
			}
		}
		return s.renderPluginPage(c, http.StatusUnprocessableEntity, sess, sv, st, shown, fields, rest, false)
	}
	// Back to the dashboard tab the form was posted from.
	page := ""
	if pg := c.FormValue("page"); pageIDRe.MatchString(pg) {
		page = "page=" + pg + "&"
	}
	return c.Redirect(http.StatusSeeOther, "/s/"+sv.ID+"/p/"+m.ID+"?"+page+"saved=1#options")
}

func (s *Site) simulatorPage(c echo.Context) error {
	if s.cfg.Simulator == nil {
		return errStatus(http.StatusNotFound, "not_found", "the simulator is off: maid is connected to Discord")
	}
	_, sv, err := s.serverParam(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	chans, err := s.cfg.Directory.Channels(ctx, sv.ID)
	if err != nil {
		return err
	}
	var text []Channel
	for _, ch := range chans {
		if ch.Type == "" || ch.Type == "text" {
			text = append(text, ch)
		}
	}
	members, err := s.cfg.Directory.Members(ctx, sv.ID, 200)
	if err != nil {
		return err
	}
	v := s.serverView(c, sv, "simulator", "Simulator", map[string]any{"Channels": text, "Members": members})
	return s.renderView(c, http.StatusOK, "simulator.html", v)
}

func (s *Site) uninstall(c echo.Context) error {
	if err := requireAdmin(sessionOf(c)); err != nil {
		return err
	}
	id := c.Param("plugin")
	if err := s.eng.Uninstall(c.Request().Context(), id); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, flashURL(sessionOf(c), "/marketplace", "Uninstalled "+id+" and deleted its data."))
}

// logsPage shows a plugin's captured output. Admins only: the log of a
// plugin mixes every server's calls.
// dataVersion serves GET /s/{server}/p/{plugin}/version: {"v": n}, a number
// that moves when the plugin writes its data on the server. Open
// dashboards poll it (a map lookup, no plugin call) and reload their
// widgets when it moves; RATIONALE.md says why polling, not a stream.
func (s *Site) dataVersion(c echo.Context) error {
	_, sv, err := s.serverParam(c)
	if err != nil {
		return err
	}
	if _, ok := s.eng.Plugin(c.Param("plugin")); !ok {
		return errStatus(http.StatusNotFound, "not_found", "no such plugin")
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]string{"v": strconv.FormatUint(s.eng.DataVersion(c.Param("plugin"), sv.ID), 10)})
}
