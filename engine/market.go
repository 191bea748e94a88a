package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/maidhq/maid/plugin"
)

// The marketplace side of the engine (issue 18): publishing versions with
// the install-time start check and signature policy, each server's
// version (following the latest, pinned, or kept on the previous one
// until its managers approve new capabilities), rollback, and the audit
// log of who did what.

type actorKey struct{}

// WithActor names who acts in ctx, for the audit log ("user:<id> (<name>)",
// "admin", "cli"). Without one the actor is "system".
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

func actorOf(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return "system"
}

// maxAuditDetail bounds an audit entry's detail text.
const maxAuditDetail = 1000

// audit records an action; a failure to record is logged, never fatal to
// the action itself (which already happened).
func (e *Engine) audit(ctx context.Context, action, serverID, pluginID, version, detail string) {
	if len(detail) > maxAuditDetail {
		detail = detail[:maxAuditDetail] + "…"
	}
	err := e.store.AddAudit(context.WithoutCancel(ctx), AuditEntry{
		At: e.now(), Actor: actorOf(ctx), Action: action, ServerID: serverID, PluginID: pluginID, Version: version, Detail: detail,
	})
	if err != nil {
		e.log.Error("audit log", "action", action, "plugin", pluginID, "server", serverID, "err", err)
	}
}

// PublishOptions tune Publish.
type PublishOptions struct {
	// Force publishes a version lower than the latest one, or one
	// published before (even if dropped from the history since): it
	// replays an old package, so only an admin sets this, and it is
	// audited.
	Force bool
	// NewSigner accepts a package whose signer differs from the latest
	// version's (another key, or none): a plugin id is bound to the key
	// that signed it (trust on first use), so only an admin sets this,
	// and the change is audited.
	NewSigner bool
}

// PublishResult says what Publish did.
type PublishResult struct {
	Package   *plugin.Package
	Version   string // the effective version (derived when the manifest has none)
	Previous  string // the latest version before, "" for a new plugin
	Signature plugin.Verification
	Warnings  []string
	// Pending lists the servers that keep Previous until one of their
	// managers approves the new capabilities.
	Pending []string
	// Unchanged: this exact package was already the latest version.
	Unchanged bool
	// SignerChanged is "old -> new" when NewSigner let another key (or
	// none) replace the latest version's signer.
	SignerChanged string
}

// StartError is an install-time start that failed: the plugin could not
// start or complete its handshake. Output is what it wrote on stderr (its
// traceback).
type StartError struct {
	Err    error
	Output []string
}

func (e *StartError) Error() string {
	msg := "the plugin did not start: " + e.Err.Error()
	if len(e.Output) > 0 {
		msg += "\n" + strings.Join(e.Output, "\n")
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrInvalid) true: the package is refused.
func (e *StartError) Unwrap() []error { return []error{ErrInvalid, e.Err} }

// maxStartOutput bounds the stderr lines a StartError carries.
const maxStartOutput = 60

// Install publishes a plugin archive (zip) as its id's latest version,
// with Publish's checks. A plugin with the same id is replaced; its data
// and settings stay (spec 004).
func (e *Engine) Install(ctx context.Context, archive []byte) (*plugin.Package, error) {
	res, err := e.Publish(ctx, archive, PublishOptions{})
	if err != nil {
		return nil, err
	}
	return res.Package, nil
}

// Publish checks a plugin archive and makes it its id's latest version:
// the package must be valid, its signature must pass the unsigned policy
// (an invalid one never does), its version must not be lower than the
// latest unless forced, and it must start in its sandbox and complete the
// handshake within Limits.InstallTimeout (else the error is a
// *StartError with its traceback). Servers whose managers have not
// approved every capability the new version declares keep running the
// previous one (Pending).
func (e *Engine) Publish(ctx context.Context, archive []byte, opt PublishOptions) (PublishResult, error) {
	var res PublishResult
	pkg, err := e.unpack(archive)
	if err != nil {
		return res, fmt.Errorf("install: %w", err)
	}
	id := pkg.Manifest.ID
	fail := func(err error) (PublishResult, error) { return res, fmt.Errorf("install %s: %w", id, err) }
	if err := pkg.MarketProblems(); err != nil {
		return fail(fmt.Errorf("%w: %w", ErrInvalid, err))
	}
	version, err := pkg.EffectiveVersion()
	if err != nil {
		return fail(err)
	}
	hashB, err := pkg.CanonicalHash()
	if err != nil {
		return fail(err)
	}
	hash := hex.EncodeToString(hashB[:])
	res.Package, res.Version = pkg, version
	res.Signature = pkg.Verify(e.trust)
	warning, err := e.unsigned.Check(res.Signature)
	if err != nil {
		return fail(fmt.Errorf("%w: %w", ErrInvalid, err))
	}
	if warning != "" {
		res.Warnings = append(res.Warnings, warning)
	}
	if w := pkg.Manifest.ScriptWarning(); w != "" {
		res.Warnings = append(res.Warnings, w)
	}

	prev := e.lookup(id)
	if prev != nil {
		res.Previous = prev.version
		if prev.version == version {
			if prev.hash == hash {
				res.Unchanged = true
				return res, nil
			}
			return fail(fmt.Errorf("%w: version %s is already published with other content: give the new package a new version", ErrInvalid, version))
		}
		c, err := plugin.CompareVersions(version, prev.version)
		if err != nil {
			return fail(fmt.Errorf("%w: %w", ErrInvalid, err))
		}
		if c < 0 && !opt.Force {
			return fail(fmt.Errorf("%w: version %s is lower than the latest, %s: an admin may publish it with force to go back (a server can also roll back on its own)", ErrInvalid, version, prev.version))
		}
		prevKey, err := e.signerOf(ctx, prev)
		if err != nil {
			return fail(err)
		}
		if prevKey != "" && prevKey != res.Signature.KeyID {
			if !opt.NewSigner {
				by := "is unsigned"
				if res.Signature.KeyID != "" {
					by = "is signed by " + res.Signature.KeyID
				}
				return fail(fmt.Errorf("%w: %w: version %s is signed by %s and this package %s: a plugin keeps the key that first signed it; sign the update with that key, or have an admin publish it with the new-signer option", ErrInvalid, plugin.ErrSignature, prev.version, prevKey, by))
			}
			signer := res.Signature.KeyID
			if signer == "" {
				signer = "none"
			}
			res.SignerChanged = prevKey + " -> " + signer
		}
	}
	if _, err := e.store.GetVersion(ctx, id, version); err == nil {
		return fail(fmt.Errorf("%w: version %s is already in the history: roll servers back to it instead", ErrInvalid, version))
	} else if !errors.Is(err, ErrNotFound) {
		return fail(err)
	}
	// The history forgets its oldest versions; this record does not. A
	// version published before (an old signed zip anyone may have kept)
	// replaces the installed plugin only when an admin forces it. (A
	// plugin installed anew after an uninstall has no servers following
	// it: each enables it through the consent page.)
	var forced []string // what Force allowed, for the audit log
	if prev != nil {
		if c, _ := plugin.CompareVersions(version, prev.version); c < 0 { // checked above
			forced = append(forced, "lower than "+prev.version)
		}
		was, err := e.store.PublishedHash(ctx, id, version)
		switch {
		case err == nil && !opt.Force:
			same := "with other content"
			if was == hash {
				same = "(this same package)"
			}
			return fail(fmt.Errorf("%w: version %s of %s was published before %s: publish a new version, or have an admin republish it with force", ErrInvalid, version, id, same))
		case err == nil:
			forced = append(forced, "republishes a version published before")
		case !errors.Is(err, ErrNotFound):
			return fail(err)
		}
	}

	if err := e.checkCommands(pkg); err != nil {
		return fail(err)
	}
	s := newSupervisor(e.deps, pkg)
	s.version, s.hash = version, hash
	if err := e.startCheck(ctx, s); err != nil {
		return fail(err)
	}
	// From here to the switch one install at a time (installing): the
	// checks above that look across installs are made again where no
	// other install can land before the switch. The start check ran
	// outside, so a package that hangs until InstallTimeout holds up no
	// other install (attack W).
	unlock, err := e.lockInstalls(ctx)
	if err != nil {
		return fail(err)
	}
	defer unlock()
	if cur := e.lookup(id); cur != prev {
		now := "uninstalled"
		if cur != nil {
			now = "at " + cur.version
		}
		return fail(fmt.Errorf("%w: %s was changed by another install while this one was checked (now %s): publish again", ErrConflict, id, now))
	}
	if err := e.checkCommands(pkg); err != nil {
		return fail(err)
	}

	caps := pkg.Manifest.Capabilities
	var servers []string
	if prev != nil {
		if servers, err = e.store.PluginServers(ctx, id); err != nil {
			return fail(err)
		}
		prevCaps := prev.pkg.Manifest.Capabilities
		for _, sid := range servers {
			sv, found, err := e.store.GetServerVersion(ctx, sid, id)
			if err != nil {
				return fail(err)
			}
			switch {
			case !found: // configured before versions were kept: it ran prev
				sv = ServerVersion{ServerID: sid, PluginID: id, Version: prev.version, Approved: prevCaps}
			case !sv.Pinned && subset(prevCaps, sv.Approved):
				sv.Version = prev.version
			}
			if err := e.store.PutServerVersion(ctx, sv); err != nil {
				return fail(err)
			}
			if !sv.Pinned && !subset(caps, sv.Approved) {
				res.Pending = append(res.Pending, sid)
			}
		}
	}
	now := e.now()
	if _, err := e.store.PublishVersion(ctx, PluginRecord{ID: id, Version: version, Archive: archive, InstalledAt: now, UpdatedAt: now}, PluginVersion{
		PluginID: id, Version: version, Archive: archive, Hash: hash, Capabilities: caps,
		SigStatus: string(res.Signature.Status), SignerKey: res.Signature.KeyID, Publisher: res.Signature.Publisher,
		PublishedBy: actorOf(ctx), PublishedAt: now, Changelog: storedChangelog(pkg),
	}); err != nil {
		return fail(err)
	}
	detail := "signature: " + string(res.Signature.Status)
	if len(forced) > 0 {
		detail += "; forced: " + strings.Join(forced, ", ")
	}
	if res.SignerChanged != "" {
		detail += "; signer changed (forced): " + res.SignerChanged
	}
	if res.Previous != "" {
		detail += "; replaces " + res.Previous
	}
	if len(res.Pending) > 0 {
		detail += "; waits for approval of new capabilities on " + strings.Join(res.Pending, ", ")
	}
	e.audit(ctx, "publish", "", id, version, detail)
	if prev != nil {
		for _, sid := range servers {
			if slices.Contains(res.Pending, sid) {
				continue
			}
			if sv, _, err := e.store.GetServerVersion(ctx, sid, id); err == nil && !sv.Pinned {
				e.noteResets(ctx, sid, prev.pkg, pkg, version)
			}
		}
	}

	err = e.onRun(ctx, func(spawn func(*supervisor)) {
		e.mu.Lock()
		old := e.sups[id]
		e.sups[id] = s
		if old != nil {
			e.old[verKey{id, old.version}] = old // kept while a server runs it
		}
		e.mu.Unlock()
		spawn(s)
	})
	if err != nil {
		return fail(err)
	}
	e.pruneOld(ctx, id)
	e.settings.invalidate("") // option schemas and versions changed
	e.log.Info("plugin installed", "plugin", id, "version", version, "pending", len(res.Pending))
	return res, nil
}

// signerOf is the key that signed the latest version s ("" when
// unsigned): the key the next version must be signed with.
func (e *Engine) signerOf(ctx context.Context, s *supervisor) (string, error) {
	pv, err := e.store.GetVersion(ctx, s.id, s.version)
	switch {
	case err == nil:
		return pv.SignerKey, nil
	case errors.Is(err, ErrNotFound): // installed before versions were kept
		return s.pkg.Verify(e.trust).KeyID, nil
	default:
		return "", err
	}
}

// startCheck starts s's plugin once and completes the handshake, bounded
// by Limits.InstallTimeout, then stops it.
func (e *Engine) startCheck(ctx context.Context, s *supervisor) error {
	if e.limits.InstallTimeout < 0 {
		return nil
	}
	release, err := e.startCheckSlot(ctx)
	if err != nil {
		return err
	}
	defer release()
	cctx, cancel := context.WithTimeout(ctx, e.limits.InstallTimeout)
	defer cancel()
	inst, err := s.startInstance(cctx) // a failed start stops its instance
	if err == nil {
		// Counted and reported like any start. The instance is stopped
		// again: a plugin enabled nowhere should hold no memory; the first
		// event or call starts it (in its slot, per server if it asks).
		inst.countRunning()
		s.d.observer.InstanceStarted(s.id, false)
		inst.stop(context.WithoutCancel(ctx), true)
		return nil
	}
	// The start waited for the instance's end, so its stderr is all in.
	var out []string
	for _, l := range s.logs.tail(0) {
		if l.Source == "stderr" {
			out = append(out, l.Text)
		}
	}
	if len(out) > maxStartOutput {
		out = append([]string{"…"}, out[len(out)-maxStartOutput:]...)
	}
	return &StartError{Err: err, Output: out}
}

// pruneOld stops older-version supervisors of id that no server runs.
func (e *Engine) pruneOld(ctx context.Context, id string) {
	servers, err := e.store.PluginServers(ctx, id)
	if err != nil {
		return
	}
	used := map[string]bool{}
	latest := e.lookup(id)
	for _, sid := range servers {
		if latest != nil {
			if v, err := e.resolveVersion(ctx, sid, latest); err == nil {
				used[v] = true
			}
		}
	}
	var stop []*supervisor
	_ = e.onRun(ctx, func(func(*supervisor)) {
		e.mu.Lock()
		for k, s := range e.old {
			if k.id == id && !used[k.version] {
				delete(e.old, k)
				stop = append(stop, s)
			}
		}
		e.mu.Unlock()
	})
	for _, s := range stop {
		if s.cancel != nil {
			s.cancel()
		}
	}
	for _, s := range stop {
		<-s.done // its instance has stopped
	}
}

type verKey struct{ id, version string }

// subset reports whether every capability in need is in have.
func subset(need, have []string) bool {
	for _, c := range need {
		if !slices.Contains(have, c) {
			return false
		}
	}
	return true
}

func union(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, c := range b {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// resolveVersion returns the version a server runs: its pinned one; else
// the latest if its managers approved every capability of it; else the
// version it last ran. A server with nothing saved runs the latest.
func (e *Engine) resolveVersion(ctx context.Context, serverID string, latest *supervisor) (string, error) {
	sv, found, err := e.store.GetServerVersion(ctx, serverID, latest.id)
	if err != nil {
		return "", err
	}
	switch {
	case !found || sv.Version == "":
		return latest.version, nil
	case sv.Pinned:
		return sv.Version, nil
	case subset(latest.pkg.Manifest.Capabilities, sv.Approved):
		return latest.version, nil
	}
	return sv.Version, nil
}

// supFor returns the supervisor of the version pluginID runs on serverID.
func (e *Engine) supFor(ctx context.Context, pluginID, serverID string) (*supervisor, error) {
	latest := e.lookup(pluginID)
	if latest == nil {
		return nil, fmt.Errorf("%w: plugin %q is not installed", ErrNotFound, pluginID)
	}
	v, err := e.cachedVersion(ctx, serverID, latest)
	if err != nil {
		return nil, err
	}
	if v == latest.version {
		return latest, nil
	}
	return e.versionSup(ctx, pluginID, v)
}

// cachedVersion is resolveVersion through the settings cache.
func (e *Engine) cachedVersion(ctx context.Context, serverID string, latest *supervisor) (string, error) {
	c := e.settings
	key := [2]string{serverID, latest.id}
	c.mu.Lock()
	if v, ok := c.versions[key]; ok && c.fresh(v.at) && v.latest == latest.version {
		c.mu.Unlock()
		return v.version, nil
	}
	c.mu.Unlock()
	at := c.now()
	v, err := e.resolveVersion(ctx, serverID, latest)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.versions[key] = cachedVer{version: v, latest: latest.version, at: at}
	c.mu.Unlock()
	return v, nil
}

// versionSup returns the running supervisor of an older version, loading
// it from the store (signature checked again) and spawning it if needed.
func (e *Engine) versionSup(ctx context.Context, id, version string) (*supervisor, error) {
	key := verKey{id, version}
	e.mu.RLock()
	s := e.old[key]
	e.mu.RUnlock()
	if s != nil {
		return s, nil
	}
	pv, err := e.store.GetVersion(ctx, id, version)
	if errors.Is(err, ErrNotFound) {
		if latest := e.lookup(id); latest != nil { // dropped from the history
			return latest, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("load %s %s: %w", id, version, err)
	}
	pkg, err := e.loadStored(pv.Archive)
	if err != nil {
		return nil, fmt.Errorf("load %s %s: %w", id, version, err)
	}
	ns := newSupervisor(e.deps, pkg)
	ns.version, ns.hash = version, pv.Hash
	err = e.onRun(ctx, func(spawn func(*supervisor)) {
		e.mu.Lock()
		defer e.mu.Unlock()
		if cur := e.old[key]; cur != nil {
			s = cur
			return
		}
		e.old[key] = ns
		s = ns
		spawn(ns)
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// loadStored unpacks a package read from the store and checks its
// signature again: a package changed in the database after upload, or
// whose signer is no longer trusted, is not run.
func (e *Engine) loadStored(archive []byte) (*plugin.Package, error) {
	pkg, err := e.unpack(archive)
	if err != nil {
		return nil, err
	}
	if _, err := e.unsigned.Check(pkg.Verify(e.trust)); err != nil {
		return nil, fmt.Errorf("stored package of %s: %w", pkg.Manifest.ID, err)
	}
	return pkg, nil
}

// noteResets records, for a server moving from one version to another,
// the saved option values the new version does not accept: they are reset
// to its defaults (the saved values stay, so a rollback restores them).
func (e *Engine) noteResets(ctx context.Context, serverID string, from, to *plugin.Package, version string) []string {
	sp, err := e.store.GetServerPlugin(ctx, serverID, to.Manifest.ID)
	if err != nil || len(sp.Options) == 0 {
		return nil
	}
	defaults := to.Manifest.DefaultOptions()
	var resets []string
	for _, o := range to.Manifest.Options {
		raw, ok := sp.Options[o.ID]
		if !ok {
			continue
		}
		if _, err := to.Manifest.ResolveOptions(map[string]json.RawMessage{o.ID: raw}); err != nil {
			def, _ := json.Marshal(defaults[o.ID])
			resets = append(resets, fmt.Sprintf("%s: %s reset to %s (the default)", o.ID, clip(string(raw), 80), def))
		}
	}
	if len(resets) > 0 {
		e.audit(ctx, "options_reset", serverID, to.Manifest.ID, version, strings.Join(resets, "; "))
	}
	return resets
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// VersionState is a plugin's version on one server.
type VersionState struct {
	Running  string // the version the server runs
	Latest   string
	Pinned   bool
	Approved []string
	// Pending lists the latest version's capabilities the server's
	// managers have not approved (the server runs Running until they do).
	Pending []string
}

// ServerVersion returns a plugin's version state on a server.
func (e *Engine) ServerVersion(ctx context.Context, serverID, pluginID string) (VersionState, error) {
	latest := e.lookup(pluginID)
	if latest == nil {
		return VersionState{}, fmt.Errorf("version of %s: %w: not installed", pluginID, ErrNotFound)
	}
	sv, _, err := e.store.GetServerVersion(ctx, serverID, pluginID)
	if err != nil {
		return VersionState{}, err
	}
	run, err := e.resolveVersion(ctx, serverID, latest)
	if err != nil {
		return VersionState{}, err
	}
	st := VersionState{Running: run, Latest: latest.version, Pinned: sv.Pinned, Approved: sv.Approved}
	if !sv.Pinned && run != latest.version {
		for _, c := range latest.pkg.Manifest.Capabilities {
			if !slices.Contains(sv.Approved, c) {
				st.Pending = append(st.Pending, c)
			}
		}
	}
	return st, nil
}

// Versions returns a plugin's published versions, newest first.
func (e *Engine) Versions(ctx context.Context, pluginID string) ([]PluginVersion, error) {
	return e.store.ListVersions(ctx, pluginID)
}

// storedChangelog is pkg's changelog as the store keeps it: valid UTF-8
// without NUL (a PostgreSQL text value), at most plugin.MaxChangelogBytes.
func storedChangelog(pkg *plugin.Package) string {
	return strings.ReplaceAll(strings.ToValidUTF8(pkg.Changelog(), "\uFFFD"), "\x00", "\uFFFD")
}

// VersionChangelog returns the first maxChars characters of one
// version's changelog as stored at publication, never unpacking its
// archive. A version published before changelogs were kept has none
// stored (stored false), except the latest, read from its loaded package.
func (e *Engine) VersionChangelog(ctx context.Context, pluginID, version string, maxChars int) (text string, stored bool, err error) {
	text, stored, err = e.store.VersionChangelog(ctx, pluginID, version, maxChars)
	if err != nil || stored {
		return text, stored, err
	}
	if s := e.lookup(pluginID); s != nil && s.version == version {
		text = storedChangelog(s.pkg)
		if r := []rune(text); len(r) > maxChars {
			text = string(r[:maxChars])
		}
		return text, true, nil
	}
	return "", false, nil
}

// LoadedPackage returns the package of a version of a plugin that is
// loaded now (the latest, or an older one a server runs), never loading
// one: for requests that must not unpack stored archives.
func (e *Engine) LoadedPackage(pluginID, version string) (*plugin.Package, bool) {
	if s := e.lookup(pluginID); s != nil && s.version == version {
		return s.pkg, true
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if s := e.old[verKey{pluginID, version}]; s != nil {
		return s.pkg, true
	}
	return nil, false
}

// VersionPackage returns the package of one version of a plugin.
func (e *Engine) VersionPackage(ctx context.Context, pluginID, version string) (*plugin.Package, error) {
	if s := e.lookup(pluginID); s != nil && s.version == version {
		return s.pkg, nil
	}
	s, err := e.versionSup(ctx, pluginID, version)
	if err != nil {
		return nil, err
	}
	return s.pkg, nil
}

// Audit returns audit entries, newest first.
func (e *Engine) Audit(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	return e.store.ListAudit(ctx, q)
}

// setServerVersion saves sv and drops cached state of the server.
func (e *Engine) setServerVersion(ctx context.Context, sv ServerVersion) error {
	defer e.settings.invalidate(sv.ServerID)
	return e.store.PutServerVersion(ctx, sv)
}

// Approve records that a manager of serverID approved every capability of
// the plugin's latest version: the server moves to it.
func (e *Engine) Approve(ctx context.Context, serverID, pluginID string) error {
	return e.ApproveShown(ctx, serverID, pluginID, "", "")
}

// CapabilityDigest names a capability list, in any order: what a consent
// page showed, so the approval it posts can be checked against it.
func CapabilityDigest(caps []string) string {
	sorted := slices.Clone(caps)
	slices.Sort(sorted)
	sum := sha256.Sum256([]byte(strings.Join(sorted, "\n")))
	return hex.EncodeToString(sum[:8])
}

// ApproveShown is Approve of what a manager was shown: version and the
// CapabilityDigest of its capabilities. When the latest version is another
// one (published while the page was open) it approves nothing and returns
// ErrStale: a manager never approves capabilities they were not shown.
// Empty version and digest approve whatever is latest (the CLI's Approve).
func (e *Engine) ApproveShown(ctx context.Context, serverID, pluginID, version, digest string) error {
	if err := checkServerID(serverID); err != nil {
		return err
	}
	latest := e.lookup(pluginID)
	if latest == nil {
		return fmt.Errorf("approve %s: %w: not installed", pluginID, ErrNotFound)
	}
	if version != "" || digest != "" {
		if version != latest.version || digest != CapabilityDigest(latest.pkg.Manifest.Capabilities) {
			return fmt.Errorf("approve %s: %w: the page showed version %q, the latest is %s: review what it asks for again", pluginID, ErrStale, version, latest.version)
		}
	}
	sv, _, err := e.store.GetServerVersion(ctx, serverID, pluginID)
	if err != nil {
		return fmt.Errorf("approve %s: %w", pluginID, err)
	}
	from := sv.Version
	caps := latest.pkg.Manifest.Capabilities
	sv.ServerID, sv.PluginID = serverID, pluginID
	sv.Approved, sv.Version, sv.Pinned = union(sv.Approved, caps), latest.version, false
	if err := e.setServerVersion(ctx, sv); err != nil {
		return fmt.Errorf("approve %s: %w", pluginID, err)
	}
	e.audit(ctx, "approve", serverID, pluginID, latest.version, "approved: "+strings.Join(caps, ", "))
	if from != "" && from != latest.version {
		if old, err := e.VersionPackage(ctx, pluginID, from); err == nil {
			e.noteResets(ctx, serverID, old, latest.pkg, latest.version)
		}
	}
	e.pruneOld(ctx, pluginID)
	return nil
}

// Rollback moves a server to the version published before the one it
// runs, and pins it there. It returns that version.
func (e *Engine) Rollback(ctx context.Context, serverID, pluginID string) (string, error) {
	if err := checkServerID(serverID); err != nil {
		return "", err
	}
	latest := e.lookup(pluginID)
	if latest == nil {
		return "", fmt.Errorf("roll back %s: %w: not installed", pluginID, ErrNotFound)
	}
	cur, err := e.resolveVersion(ctx, serverID, latest)
	if err != nil {
		return "", fmt.Errorf("roll back %s: %w", pluginID, err)
	}
	vs, err := e.store.ListVersions(ctx, pluginID)
	if err != nil {
		return "", fmt.Errorf("roll back %s: %w", pluginID, err)
	}
	i := slices.IndexFunc(vs, func(v PluginVersion) bool { return v.Version == cur })
	if i < 0 || i+1 >= len(vs) {
		return "", fmt.Errorf("roll back %s: %w: no version before %s", pluginID, ErrInvalid, cur)
	}
	target := vs[i+1].Version
	if err := e.pin(ctx, serverID, pluginID, target, "rollback", "from "+cur); err != nil {
		return "", err
	}
	return target, nil
}

// Pin makes a server run one version of a plugin until unpinned; a
// manager pinning it approves its capabilities.
func (e *Engine) Pin(ctx context.Context, serverID, pluginID, version string) error {
	if err := checkServerID(serverID); err != nil {
		return err
	}
	return e.pin(ctx, serverID, pluginID, version, "pin", "")
}

func (e *Engine) pin(ctx context.Context, serverID, pluginID, version, action, detail string) error {
	pkg, err := e.VersionPackage(ctx, pluginID, version)
	if err != nil {
		return fmt.Errorf("%s %s to %s: %w", action, pluginID, version, err)
	}
	if v, _ := pkg.EffectiveVersion(); v != version {
		return fmt.Errorf("%s %s: %w: version %s is not in the history", action, pluginID, ErrNotFound, version)
	}
	sv, _, err := e.store.GetServerVersion(ctx, serverID, pluginID)
	if err != nil {
		return fmt.Errorf("%s %s: %w", action, pluginID, err)
	}
	from := sv.Version
	if latest := e.lookup(pluginID); latest != nil {
		if cur, err := e.resolveVersion(ctx, serverID, latest); err == nil {
			from = cur
		}
	}
	sv.ServerID, sv.PluginID = serverID, pluginID
	sv.Version, sv.Pinned, sv.Approved = version, true, union(sv.Approved, pkg.Manifest.Capabilities)
	if err := e.setServerVersion(ctx, sv); err != nil {
		return fmt.Errorf("%s %s: %w", action, pluginID, err)
	}
	e.audit(ctx, action, serverID, pluginID, version, detail)
	if from != "" && from != version {
		if old, err := e.VersionPackage(ctx, pluginID, from); err == nil {
			e.noteResets(ctx, serverID, old, pkg, version)
		}
	}
	e.pruneOld(ctx, pluginID)
	return nil
}

// FollowLatest unpins a server: it runs the latest version once its
// capabilities are approved.
func (e *Engine) FollowLatest(ctx context.Context, serverID, pluginID string) error {
	if err := checkServerID(serverID); err != nil {
		return err
	}
	latest := e.lookup(pluginID)
	if latest == nil {
		return fmt.Errorf("follow latest %s: %w: not installed", pluginID, ErrNotFound)
	}
	sv, _, err := e.store.GetServerVersion(ctx, serverID, pluginID)
	if err != nil {
		return fmt.Errorf("follow latest %s: %w", pluginID, err)
	}
	sv.ServerID, sv.PluginID, sv.Pinned = serverID, pluginID, false
	if sv.Version == "" {
		sv.Version = latest.version
	}
	if err := e.setServerVersion(ctx, sv); err != nil {
		return fmt.Errorf("follow latest %s: %w", pluginID, err)
	}
	e.audit(ctx, "follow_latest", serverID, pluginID, latest.version, "")
	e.pruneOld(ctx, pluginID)
	return nil
}

// consentOnEnable records, when a plugin is enabled on a server, that the
// capabilities of the version the server runs were approved (the caller
// showed them first; the dashboard's consent page does).
func (e *Engine) consentOnEnable(ctx context.Context, serverID string, latest *supervisor) error {
	sv, found, err := e.store.GetServerVersion(ctx, serverID, latest.id)
	if err != nil {
		return err
	}
	run := latest
	if found && sv.Version != "" {
		v, err := e.resolveVersion(ctx, serverID, latest)
		if err != nil {
			return err
		}
		if v != latest.version {
			if run, err = e.versionSup(ctx, latest.id, v); err != nil {
				return err
			}
		}
	}
	caps := run.pkg.Manifest.Capabilities
	if found && sv.Version != "" && subset(caps, sv.Approved) {
		return nil
	}
	sv.ServerID, sv.PluginID = serverID, latest.id
	if sv.Version == "" {
		sv.Version = run.version
	}
	sv.Approved = union(sv.Approved, caps)
	return e.store.PutServerVersion(ctx, sv)
}

// NeedsConsent returns the capabilities of the version a server would run
// that its managers have not approved yet (nil: none).
func (e *Engine) NeedsConsent(ctx context.Context, serverID, pluginID string) ([]string, error) {
	s, err := e.supFor(ctx, pluginID, serverID)
	if err != nil {
		return nil, err
	}
	sv, found, err := e.store.GetServerVersion(ctx, serverID, pluginID)
	if err != nil {
		return nil, err
	}
	var need []string
	for _, c := range s.pkg.Manifest.Capabilities {
		if !found || !slices.Contains(sv.Approved, c) {
			need = append(need, c)
		}
	}
	return need, nil
}

// optionsDetail is an audit detail for saved option values.
func optionsDetail(values map[string]json.RawMessage) string {
	ids := make([]string, 0, len(values))
	for id := range values {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(id + "=" + clip(string(values[id]), 60))
		if b.Len() > maxAuditDetail {
			break
		}
	}
	return b.String()
}

// stored makes the supervisor of an installed plugin loaded at start. A
// plugin installed before versions were kept gets its version recorded
// as the first of its history.
func (e *Engine) stored(ctx context.Context, rec PluginRecord, pkg *plugin.Package) (*supervisor, error) {
	version, err := pkg.EffectiveVersion()
	if err != nil {
		return nil, err
	}
	h, err := pkg.CanonicalHash()
	if err != nil {
		return nil, err
	}
	s := newSupervisor(e.deps, pkg)
	s.version, s.hash = version, hex.EncodeToString(h[:])
	if _, err := e.store.GetVersion(ctx, rec.ID, version); errors.Is(err, ErrNotFound) {
		ver := pkg.Verify(e.trust)
		_, err = e.store.PublishVersion(ctx, rec, PluginVersion{
			PluginID: rec.ID, Version: version, Archive: rec.Archive, Hash: s.hash, Capabilities: pkg.Manifest.Capabilities,
			SigStatus: string(ver.Status), SignerKey: ver.KeyID, Publisher: ver.Publisher, PublishedBy: "system", PublishedAt: rec.UpdatedAt,
			Changelog: storedChangelog(pkg),
		})
		// Another node starting at once may have recorded it first.
		if err != nil && !errors.Is(err, ErrInvalid) {
			return nil, fmt.Errorf("record version history: %w", err)
		}
	} else if err != nil {
		return nil, err
	}
	return s, nil
}

// versionOf returns a package's effective version and canonical hash (hex).
func versionOf(pkg *plugin.Package) (version, hash string, err error) {
	if version, err = pkg.EffectiveVersion(); err != nil {
		return "", "", err
	}
	h, err := pkg.CanonicalHash()
	if err != nil {
		return "", "", err
	}
	return version, hex.EncodeToString(h[:]), nil
}
