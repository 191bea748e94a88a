package engine

import (
	"context"
	"time"
)

// The marketplace's port: version history, each server's version and
// consent, and the audit log (store/market.go implements it on SQLite and
// PostgreSQL). Part of Store.

// PluginVersion is one published version of a plugin.
type PluginVersion struct {
	PluginID string
	Version  string
	// Seq orders a plugin's versions by publication (1 is the first).
	Seq int64
	// Archive is the package zip; nil in lists.
	Archive []byte
	// Hash is the package's canonical hash (hex; plugin.CanonicalHash).
	Hash         string
	Capabilities []string
	// SigStatus is plugin.SigStatus at publication; SignerKey and
	// Publisher name the key when it verified.
	SigStatus   string
	SignerKey   string
	Publisher   string
	PublishedBy string // who uploaded it (audit actor)
	PublishedAt time.Time
	// Changelog is the package's CHANGELOG.md, kept at publication (valid
	// UTF-8, at most plugin.MaxChangelogBytes) so showing it never unpacks
	// the archive. Written by PublishVersion; lists leave it empty (read
	// it with VersionChangelog).
	Changelog string
}

// ServerVersion is one server's choice for one plugin: the version it
// runs unless it follows the latest one, whether it is pinned there, and
// the capabilities its managers approved.
type ServerVersion struct {
	ServerID string
	PluginID string
	// Version is the version the server last ran: it keeps running while
	// the latest one waits for approval, and always when Pinned.
	Version  string
	Pinned   bool
	Approved []string
}

// AuditEntry is one action of the audit log.
type AuditEntry struct {
	ID       int64
	At       time.Time
	Actor    string // who: "user:<discord id> (<name>)", "admin", "system", "cli"
	Action   string // publish, enable, disable, approve, options, rollback, pin, follow_latest, options_reset, uninstall
	ServerID string // "" for actions not tied to a server (publish, uninstall)
	PluginID string
	Version  string
	Detail   string
}

// AuditQuery selects audit entries, newest first.
type AuditQuery struct {
	// All: every entry; else only those of ServerIDs (server-less entries
	// are never shown to a server's managers).
	All       bool
	ServerIDs []string
	// Before: only entries with a smaller ID (paging; 0: from the newest).
	Before int64
	Limit  int // at most MaxAuditPage
}

// MaxAuditPage bounds the entries one audit query returns.
const MaxAuditPage = 200

// MaxVersionsKept bounds a plugin's version history: publishing past it
// drops the oldest versions no server runs.
const MaxVersionsKept = 50

// MarketStore keeps versions, per-server versions and approvals, and the
// audit log.
type MarketStore interface {
	// PublishVersion makes v the plugin's latest version: it saves v in
	// the history (Seq assigned) and rec as the installed plugin, in one
	// transaction. A version already in the history fails with ErrInvalid.
	PublishVersion(ctx context.Context, rec PluginRecord, v PluginVersion) (PluginVersion, error)
	// ListVersions returns a plugin's versions, newest first, without
	// archives or changelogs.
	ListVersions(ctx context.Context, pluginID string) ([]PluginVersion, error)
	// GetVersion returns one version with its archive, or ErrNotFound.
	GetVersion(ctx context.Context, pluginID, version string) (PluginVersion, error)
	// VersionChangelog returns at most the first maxChars characters of a
	// version's changelog; stored is false for a version published before
	// changelogs were kept (ErrNotFound if the version is not in the
	// history).
	VersionChangelog(ctx context.Context, pluginID, version string, maxChars int) (text string, stored bool, err error)
	// PublishedHash returns the canonical hash a (plugin, version) was
	// published with, or ErrNotFound if it never was. PublishVersion keeps
	// this record for good: it is never pruned with the history.
	PublishedHash(ctx context.Context, pluginID, version string) (string, error)
	// GetServerVersion returns a server's choice for a plugin; found is
	// false when none was saved.
	GetServerVersion(ctx context.Context, serverID, pluginID string) (sv ServerVersion, found bool, err error)
	// PutServerVersion saves a server's choice (ErrNotFound if the plugin
	// is not installed).
	PutServerVersion(ctx context.Context, sv ServerVersion) error
	// PluginServers returns the servers with saved settings or a saved
	// version for the plugin, sorted.
	PluginServers(ctx context.Context, pluginID string) ([]string, error)
	// AddAudit appends an entry (ID and, if zero, At are set). The log
	// keeps the newest MaxAuditRows entries.
	AddAudit(ctx context.Context, e AuditEntry) error
	// ListAudit returns entries, newest first.
	ListAudit(ctx context.Context, q AuditQuery) ([]AuditEntry, error)
}

// MaxAuditRows bounds the audit log; older entries are dropped.
const MaxAuditRows = 100000
