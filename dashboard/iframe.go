package dashboard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/maidhq/maid/plugin"
)

// Iframe dashboards run the plugin author's own JavaScript in the user's
// browser. The sandbox and CSP (assets.go) keep it from the dashboard's
// cookies, DOM and ordinary network requests, but not from WebRTC: a
// `turn:` server's username carries data to any host despite
// `connect-src 'none'`, and Chromium has no CSP directive that blocks it.
// So whatever the bridge shows the iframe can leave the machine. The
// operator decides whether that risk is taken, and for which plugins.

// IframeMode says whether iframe-mode plugin dashboards are served.
type IframeMode string

const (
	// IframeOff serves no iframe dashboard; the page says so.
	IframeOff IframeMode = "off"
	// IframeApprove serves a plugin's iframe dashboard only after an admin
	// approved that plugin package (its files' digest); a package with any
	// other file needs a new approval. The default.
	IframeApprove IframeMode = "approve"
	// IframeOn serves every installed plugin's iframe dashboard.
	IframeOn IframeMode = "on"
)

// ParseIframeMode parses off, approve or on ("" is approve).
func ParseIframeMode(s string) (IframeMode, error) {
	switch m := IframeMode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return IframeApprove, nil
	case IframeOff, IframeApprove, IframeOn:
		return m, nil
	}
	return "", fmt.Errorf("iframe dashboards %q: want off, approve or on", s)
}

// ApprovalStore keeps admins' approvals of iframe dashboards (the store
// package implements it). An approval is the digest of the approved
// plugin package; "" is none.
type ApprovalStore interface {
	DashboardApproval(ctx context.Context, pluginID string) (digest string, err error)
	SetDashboardApproval(ctx context.Context, pluginID, digest, approvedBy string) error
}

// memApprovals is the ApprovalStore of a Config without one: approvals
// last until the process ends.
type memApprovals struct {
	mu sync.Mutex
	m  map[string]string
}

func (a *memApprovals) DashboardApproval(_ context.Context, id string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.m[id], nil
}

func (a *memApprovals) SetDashboardApproval(_ context.Context, id, digest, _ string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if digest == "" {
		delete(a.m, id)
	} else {
		a.m[id] = digest
	}
	return nil
}

// frameState is whether a plugin's iframe dashboard is served, and why not.
type frameState struct {
	Served bool
	Reason string // "off", "unapproved", or "changed" (approved files were replaced)
	Digest string // of the plugin package now installed (approve mode)
}

// digestCache remembers each loaded package's digest (the latest version
// and older ones servers run); a reinstall is a new *plugin.Package, so a
// stale digest is never used.
type digestCache struct {
	mu sync.Mutex
	m  map[*plugin.Package]string
}

// maxDigests bounds the cache: past it, it starts again (a digest is
// recomputed from the package's files).
const maxDigests = 256

// packageDigest hashes every file of the plugin package: path, size and
// content. An approval covers the whole package, not only dashboard/: the
// approved page's script sends on whatever the plugin's handlers answer,
// and a new version's handlers could answer more.
func packageDigest(pkg *plugin.Package) (string, error) {
	h := sha256.New()
	for _, f := range pkg.Files {
		full := filepath.Join(pkg.Dir, filepath.FromSlash(f))
		fi, err := os.Lstat(full)
		if err != nil {
			return "", fmt.Errorf("digest %s: %w", f, err)
		}
		if !fi.Mode().IsRegular() {
			continue // Unpack refuses links and devices; nothing else to hash
		}
		file, err := os.Open(full)
		if err != nil {
			return "", fmt.Errorf("digest %s: %w", f, err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", f, fi.Size())
		_, err = io.Copy(h, io.LimitReader(file, fi.Size()))
		file.Close()
		if err != nil {
			return "", fmt.Errorf("digest %s: %w", f, err)
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

func (s *Site) digest(pkg *plugin.Package) (string, error) {
	s.digests.mu.Lock()
	d, ok := s.digests.m[pkg]
	s.digests.mu.Unlock()
	if ok {
		return d, nil
	}
	d, err := packageDigest(pkg)
	if err != nil {
		return "", err
	}
	s.digests.mu.Lock()
	if len(s.digests.m) >= maxDigests {
		clear(s.digests.m)
	}
	s.digests.m[pkg] = d
	s.digests.mu.Unlock()
	return d, nil
}

// frame says whether pkg's iframe dashboard may be served now.
func (s *Site) frame(ctx context.Context, pkg *plugin.Package) (frameState, error) {
	switch s.cfg.IframeDashboards {
	case IframeOn:
		return frameState{Served: true}, nil
	case IframeOff:
		return frameState{Reason: "off"}, nil
	}
	d, err := s.digest(pkg)
	if err != nil {
		return frameState{}, fmt.Errorf("iframe dashboard of %s: %w", pkg.Manifest.ID, err)
	}
	approved, err := s.approvals.DashboardApproval(ctx, pkg.Manifest.ID)
	if err != nil {
		return frameState{}, fmt.Errorf("iframe dashboard of %s: %w", pkg.Manifest.ID, err)
	}
	switch approved {
	case d:
		return frameState{Served: true, Digest: d}, nil
	case "":
		return frameState{Reason: "unapproved", Digest: d}, nil
	}
	return frameState{Reason: "changed", Digest: d}, nil
}

// setApproval serves POST /plugins/{plugin}/dashboard-approval (admins):
// approve=true with the digest shown on the page approves that package (a
// page shown for another package than is installed now approves nothing);
// approve=false withdraws the approval. The page is about one server
// (server=): the package is the version that server runs, the one its
// page showed, else the latest. An approval is of one package's digest:
// it opens that version's iframe and bridge only, on every server running
// it, and replaces an approval of any other version.
func (s *Site) setApproval(c echo.Context) error {
	sess := sessionOf(c)
	if err := requireAdmin(sess); err != nil {
		return err
	}
	if s.cfg.IframeDashboards != IframeApprove {
		return errStatus(http.StatusConflict, "invalid", "iframe dashboards are not in approve mode (maid serve --iframe-dashboards)")
	}
	ctx, id := c.Request().Context(), c.Param("plugin")
	pkg, ok := s.eng.Plugin(id)
	if sid := c.FormValue("server"); ok && sid != "" {
		st, err := s.eng.PluginState(ctx, sid, id)
		if err != nil {
			return err
		}
		pkg = st.Package
	}
	if !ok || pkg.Mode != plugin.ModeIframe {
		return errStatus(http.StatusNotFound, "not_found", "no such iframe dashboard")
	}
	approve, err := strconv.ParseBool(c.FormValue("approve"))
	if err != nil {
		return errStatus(http.StatusBadRequest, "invalid", "approve must be true or false")
	}
	digest := ""
	if approve {
		d, err := s.digest(pkg)
		if err != nil {
			return err
		}
		if c.FormValue("digest") != d {
			return errStatus(http.StatusConflict, "changed", "the plugin changed since this page was shown; reload and review it again")
		}
		digest = d
	}
	if err := s.approvals.SetDashboardApproval(ctx, pkg.Manifest.ID, digest, sess.userID); err != nil {
		return err
	}
	s.log.Info("iframe dashboard approval", "plugin", pkg.Manifest.ID, "approved", approve, "digest", digest, "by", sess.userID)
	return c.Redirect(http.StatusSeeOther, localPath(c.FormValue("next"), "/marketplace"))
}

// frameMessage says why an iframe dashboard is not shown.
func frameMessage(reason string) string {
	switch reason {
	case "off":
		return "Iframe dashboards are turned off on this maid (maid serve --iframe-dashboards=off)."
	case "changed":
		return "This plugin changed since an admin approved its dashboard; it is shown again once an admin approves the new version."
	}
	return "This plugin's dashboard is shown once an admin approves it."
}
