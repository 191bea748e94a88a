package dashboard

import (
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/maidhq/maid/plugin"
	"github.com/maidhq/maid/web"
)

// frameCSP is the policy of every document and file served from a plugin's
// dashboard/ (iframe mode). Same-origin files only (the plugin's own, and
// /static/ which the spec's minimal HTML links); inline script and style
// because the spec's example uses them; no network access at all (data
// comes through the MaidSDK bridge), no forms posting anywhere, no plugins,
// no <base>, and only the dashboard may frame it. The iframe's sandbox
// (allow-scripts allow-forms, never allow-same-origin) gives it an opaque
// origin: no cookies, no storage, no access to the parent's DOM.
//
// WebRTC is the hole: no directive Chromium enforces stops an
// RTCPeerConnection whose STUN/TURN server (and its username) carries data
// off-site (iframe.go, docs/security.md). "webrtc 'block'" (CSP3) states
// the intent and blocks it where a browser implements it.
const frameCSP = "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; font-src 'self' data:; media-src 'self'; connect-src 'none'; form-action 'none'; " +
	"base-uri 'none'; object-src 'none'; frame-src 'none'; worker-src 'none'; frame-ancestors 'self'; webrtc 'block'; " +
	"sandbox allow-scripts allow-forms"

// framePermissions turns off the powerful browser features a plugin page
// could otherwise ask the user for (camera and microphone feed WebRTC).
const framePermissions = "camera=(), microphone=(), display-capture=(), geolocation=(), usb=(), serial=(), hid=(), " +
	"midi=(), payment=(), clipboard-read=(), clipboard-write=(), publickey-credentials-get=(), " +
	"screen-wake-lock=(), xr-spatial-tracking=(), idle-detection=(), fullscreen=()"

// static serves web/static. Versioned URLs (?v=) may be cached.
func (s *Site) static(c echo.Context) error {
	p := path.Clean("/" + c.Param("*"))[1:]
	data, err := fs.ReadFile(web.Static, p)
	if err != nil || p == "" {
		return errStatus(http.StatusNotFound, "not_found", "no such file")
	}
	ct := mime.TypeByExtension(path.Ext(p))
	if ct == "" {
		ct = "application/octet-stream"
	}
	if c.QueryParam("v") != "" {
		c.Response().Header().Set("Cache-Control", "public, max-age=86400")
	} else {
		c.Response().Header().Set("Cache-Control", "no-cache")
	}
	// Plugin iframes (opaque origin) load these too.
	c.Response().Header().Set("Cross-Origin-Resource-Policy", "cross-origin")
	return c.Blob(http.StatusOK, ct, data)
}

// frameURL is the iframe document of the version a server runs: the
// latest at /p/{plugin}/assets/, an older one (pinned, rolled back, or
// kept pending consent) at /p/{plugin}/v/{version}/assets/, so a page
// shows the dashboard of the handlers its bridge calls.
func frameURL(eng Engine, pluginID, version string) string {
	if latest, ok := eng.Plugin(pluginID); ok {
		if v, err := latest.EffectiveVersion(); err == nil && v == version {
			return "/p/" + pluginID + "/assets/index.html"
		}
	}
	return "/p/" + pluginID + "/v/" + url.PathEscape(version) + "/assets/index.html"
}

// pluginAsset serves a file of an iframe-mode plugin's dashboard/ at
// /p/{plugin}/assets/{path} (the latest version) or
// /p/{plugin}/v/{version}/assets/{path} (an older version loaded now). "dashboard-assets/X" names dashboard/X too
// (spec 000: bundled files such as dashboard-assets/sdk/ui.css). If the zip
// lacks sdk/ui.css or sdk/ui.js, the platform's copies are served there, so
// the documented include works either way.
//
// These are the plugin's static files, the same for every user and server;
// they hold no server data (that comes only through the bridge), so they
// need no session — which matters because requests from the sandboxed
// (opaque-origin) iframe carry no cookies.
func (s *Site) pluginAsset(c echo.Context) error {
	h := c.Response().Header()
	h.Set("Content-Security-Policy", frameCSP)
	h.Set("Permissions-Policy", framePermissions)
	h.Set("X-DNS-Prefetch-Control", "off") // a prefetched host name is a request CSP does not see
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	h.Set("Cache-Control", "no-cache")
	pkg, ok := s.eng.Plugin(c.Param("plugin"))
	if v := c.Param("version"); v != "" && ok {
		// An older version a server runs (frameURL): only one loaded now,
		// so a request never makes the engine unpack a stored version.
		pkg, ok = nil, false
		if m, err := s.market(); err == nil {
			pkg, ok = m.LoadedPackage(c.Param("plugin"), v)
		}
	}
	if !ok || pkg.Mode != plugin.ModeIframe {
		return errStatus(http.StatusNotFound, "not_found", "no such plugin dashboard")
	}
	// Not one byte of a dashboard the operator has not allowed (off, or
	// not approved) reaches a browser: not its HTML, not its scripts.
	st, err := s.frame(c.Request().Context(), pkg)
	if err != nil {
		return err
	}
	if !st.Served {
		return errStatus(http.StatusForbidden, "not_approved", frameMessage(st.Reason))
	}
	rel := path.Clean("/" + c.Param("*"))[1:]
	rel = strings.TrimPrefix(rel, "dashboard-assets/")
	if rel == "" || rel == "." {
		rel = "index.html"
	}
	file := "dashboard/" + rel
	for _, f := range pkg.Files {
		if f == file {
			full := filepath.Join(pkg.Dir, filepath.FromSlash(file))
			if fi, err := os.Lstat(full); err != nil || !fi.Mode().IsRegular() {
				break
			}
			return c.File(full)
		}
	}
	switch rel {
	case "sdk/ui.css", "sdk/ui.js":
		data, err := fs.ReadFile(web.Static, rel)
		if err == nil {
			return c.Blob(http.StatusOK, mime.TypeByExtension(path.Ext(rel)), data)
		}
	}
	return errStatus(http.StatusNotFound, "not_found", "no such file in the plugin's dashboard/")
}
