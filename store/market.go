package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/maidhq/maid/engine"
)

// The marketplace's tables (migrations 0010 and 0050): plugin_versions,
// published_versions, server_plugin_versions and audit_log. engine.MarketStore documents the
// contract.

// maxAuditServers bounds the servers one audit query names (a Discord user
// is in at most a few hundred servers).
const maxAuditServers = 1000

type versionRow struct {
	PluginID    string `db:"plugin_id"`
	Version     string `db:"version"`
	Seq         int64  `db:"seq"`
	Archive     []byte `db:"archive"`
	Hash        string `db:"hash"`
	Caps        string `db:"capabilities"`
	SigStatus   string `db:"sig_status"`
	SignerKey   string `db:"signer_key"`
	Publisher   string `db:"publisher"`
	PublishedBy string `db:"published_by"`
	PublishedAt int64  `db:"published_at"`
}

func (r versionRow) version() (engine.PluginVersion, error) {
	v := engine.PluginVersion{PluginID: r.PluginID, Version: r.Version, Seq: r.Seq, Archive: r.Archive, Hash: r.Hash,
		SigStatus: r.SigStatus, SignerKey: r.SignerKey, Publisher: r.Publisher, PublishedBy: r.PublishedBy, PublishedAt: fromMicros(r.PublishedAt)}
	if err := json.Unmarshal([]byte(r.Caps), &v.Capabilities); err != nil {
		return v, fmt.Errorf("decode capabilities of %s %s: %w", r.PluginID, r.Version, err)
	}
	return v, nil
}

func capsJSON(caps []string) string {
	if caps == nil {
		caps = []string{}
	}
	b, _ := json.Marshal(caps) // []string always marshals
	return string(b)
}

const versionCols = "plugin_id, version, seq, hash, capabilities, sig_status, signer_key, publisher, published_by, published_at"

// PublishVersion saves v as the plugin's latest version and rec as the
// installed plugin, in one transaction, then drops the oldest versions
// past engine.MaxVersionsKept that no server runs.
func (s *Store) PublishVersion(ctx context.Context, rec engine.PluginRecord, v engine.PluginVersion) (engine.PluginVersion, error) {
	if err := checkTexts("id", rec.ID, "version", v.Version, "hash", v.Hash, "publisher", v.Publisher, "published by", v.PublishedBy, "signer key", v.SignerKey, "changelog", v.Changelog); err != nil {
		return v, fmt.Errorf("store: publish version: %w", err)
	}
	if rec.ID == "" || v.Version == "" || v.PluginID != rec.ID {
		return v, fmt.Errorf("store: publish version: id and version must be set and agree: %w", engine.ErrInvalid)
	}
	now := nowMicros()
	if v.PublishedAt.IsZero() {
		v.PublishedAt = fromMicros(now)
	}
	archive := v.Archive
	if archive == nil {
		archive = []byte{}
	}
	err := s.writeTx(ctx, func(tx *sqlx.Tx) error {
		var n int
		if err := tx.GetContext(ctx, &n, s.q("SELECT count(*) FROM plugin_versions WHERE plugin_id = ? AND version = ?"), rec.ID, v.Version); err != nil {
			return s.dbErr(err)
		}
		if n > 0 {
			return fmt.Errorf("version %s of %s is already published: %w", v.Version, rec.ID, engine.ErrInvalid)
		}
		if err := tx.GetContext(ctx, &v.Seq, s.q("SELECT COALESCE(MAX(seq), 0) + 1 FROM plugin_versions WHERE plugin_id = ?"), rec.ID); err != nil {
			return s.dbErr(err)
		}
		installed := engine.PluginRecord{ID: rec.ID, Version: v.Version, Archive: archive, InstalledAt: rec.InstalledAt, UpdatedAt: rec.UpdatedAt}
		if err := s.upsertPlugin(ctx, tx, installed, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO plugin_versions (plugin_id, version, seq, archive, hash, capabilities, sig_status, signer_key, publisher, published_by, published_at, changelog)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			rec.ID, v.Version, v.Seq, archive, v.Hash, capsJSON(v.Capabilities), v.SigStatus, v.SignerKey, v.Publisher, v.PublishedBy, toMicros(v.PublishedAt), v.Changelog); err != nil {
			return s.dbErr(err)
		}
		// The permanent record (an admin's forced republish updates it).
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO published_versions (plugin_id, version, hash, published_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (plugin_id, version) DO UPDATE SET hash = excluded.hash, published_at = excluded.published_at`),
			rec.ID, v.Version, v.Hash, toMicros(v.PublishedAt)); err != nil {
			return s.dbErr(err)
		}
		_, err := tx.ExecContext(ctx, s.q(`DELETE FROM plugin_versions WHERE plugin_id = ? AND seq <= ?
			AND version NOT IN (SELECT version FROM server_plugin_versions WHERE plugin_id = ?)`),
			rec.ID, v.Seq-engine.MaxVersionsKept, rec.ID)
		return s.dbErr(err)
	})
	if err != nil {
		return v, fmt.Errorf("store: publish %s %s: %w", rec.ID, v.Version, err)
	}
	v.Archive = nil
	return v, nil
}

// ListVersions returns a plugin's versions, newest first, without archives.
func (s *Store) ListVersions(ctx context.Context, pluginID string) ([]engine.PluginVersion, error) {
	if err := checkText("plugin id", pluginID); err != nil {
		return nil, fmt.Errorf("store: list versions: %w", err)
	}
	var rows []versionRow
	if err := s.rdb.SelectContext(ctx, &rows, s.q("SELECT "+versionCols+" FROM plugin_versions WHERE plugin_id = ? ORDER BY seq DESC"), pluginID); err != nil {
		return nil, fmt.Errorf("store: list versions of %q: %w", pluginID, s.dbErr(err))
	}
	out, err := convertRows(rows, versionRow.version)
	if err != nil {
		return nil, fmt.Errorf("store: list versions: %w", err)
	}
	return out, nil
}

// GetVersion returns one version with its archive.
func (s *Store) GetVersion(ctx context.Context, pluginID, version string) (engine.PluginVersion, error) {
	if err := checkTexts("plugin id", pluginID, "version", version); err != nil {
		return engine.PluginVersion{}, fmt.Errorf("store: get version: %w", err)
	}
	var r versionRow
	err := s.rdb.GetContext(ctx, &r, s.q("SELECT "+versionCols+", archive FROM plugin_versions WHERE plugin_id = ? AND version = ?"), pluginID, version)
	if errors.Is(err, sql.ErrNoRows) {
		return engine.PluginVersion{}, fmt.Errorf("store: get version %s of %q: %w", version, pluginID, engine.ErrNotFound)
	}
	if err != nil {
		return engine.PluginVersion{}, fmt.Errorf("store: get version %s of %q: %w", version, pluginID, s.dbErr(err))
	}
	v, err := r.version()
	if err != nil {
		return v, fmt.Errorf("store: get version: %w", err)
	}
	if v.Archive == nil {
		v.Archive = []byte{}
	}
	return v, nil
}

// VersionChangelog returns at most maxChars characters of a version's
// changelog, cut in the database so a long one is never read whole.
func (s *Store) VersionChangelog(ctx context.Context, pluginID, version string, maxChars int) (string, bool, error) {
	if err := checkTexts("plugin id", pluginID, "version", version); err != nil {
		return "", false, fmt.Errorf("store: version changelog: %w", err)
	}
	if maxChars <= 0 {
		return "", false, fmt.Errorf("store: version changelog: max chars must be positive: %w", engine.ErrInvalid)
	}
	var text sql.NullString
	err := s.rdb.GetContext(ctx, &text, s.q("SELECT substr(changelog, 1, ?) FROM plugin_versions WHERE plugin_id = ? AND version = ?"), maxChars, pluginID, version)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, fmt.Errorf("store: changelog of %s %s: %w", pluginID, version, engine.ErrNotFound)
	}
	if err != nil {
		return "", false, fmt.Errorf("store: changelog of %s %s: %w", pluginID, version, s.dbErr(err))
	}
	return text.String, text.Valid, nil
}

// PublishedHash returns the hash (plugin, version) was published with, from
// the record that outlives the history.
func (s *Store) PublishedHash(ctx context.Context, pluginID, version string) (string, error) {
	if err := checkTexts("plugin id", pluginID, "version", version); err != nil {
		return "", fmt.Errorf("store: published hash: %w", err)
	}
	var hash string
	err := s.rdb.GetContext(ctx, &hash, s.q("SELECT hash FROM published_versions WHERE plugin_id = ? AND version = ?"), pluginID, version)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("store: published hash of %s %s: %w", pluginID, version, engine.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("store: published hash of %s %s: %w", pluginID, version, s.dbErr(err))
	}
	return hash, nil
}

type serverVersionRow struct {
	ServerID string `db:"server_id"`
	PluginID string `db:"plugin_id"`
	Version  string `db:"version"`
	Pinned   bool   `db:"pinned"`
	Approved string `db:"approved"`
}

// GetServerVersion returns a server's saved choice for a plugin.
func (s *Store) GetServerVersion(ctx context.Context, serverID, pluginID string) (engine.ServerVersion, bool, error) {
	if err := checkTexts("server id", serverID, "plugin id", pluginID); err != nil {
		return engine.ServerVersion{}, false, fmt.Errorf("store: get server version: %w", err)
	}
	var r serverVersionRow
	err := s.rdb.GetContext(ctx, &r, s.q("SELECT server_id, plugin_id, version, pinned, approved FROM server_plugin_versions WHERE server_id = ? AND plugin_id = ?"), serverID, pluginID)
	if errors.Is(err, sql.ErrNoRows) {
		return engine.ServerVersion{ServerID: serverID, PluginID: pluginID}, false, nil
	}
	if err != nil {
		return engine.ServerVersion{}, false, fmt.Errorf("store: get server version of %q on %q: %w", pluginID, serverID, s.dbErr(err))
	}
	sv := engine.ServerVersion{ServerID: r.ServerID, PluginID: r.PluginID, Version: r.Version, Pinned: r.Pinned}
	if err := json.Unmarshal([]byte(r.Approved), &sv.Approved); err != nil {
		return sv, false, fmt.Errorf("store: decode approvals of %q on %q: %w", pluginID, serverID, err)
	}
	return sv, true, nil
}

// PutServerVersion saves a server's choice for a plugin.
func (s *Store) PutServerVersion(ctx context.Context, sv engine.ServerVersion) error {
	if err := checkTexts("server id", sv.ServerID, "plugin id", sv.PluginID, "version", sv.Version); err != nil {
		return fmt.Errorf("store: put server version: %w", err)
	}
	approved := capsJSON(sv.Approved)
	if err := checkText("approved", approved); err != nil {
		return fmt.Errorf("store: put server version: %w", err)
	}
	_, err := s.wdb.ExecContext(ctx, s.q(`INSERT INTO server_plugin_versions (server_id, plugin_id, version, pinned, approved) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (server_id, plugin_id) DO UPDATE SET version = excluded.version, pinned = excluded.pinned, approved = excluded.approved`),
		sv.ServerID, sv.PluginID, sv.Version, sv.Pinned, approved)
	if isFKViolation(err) {
		return fmt.Errorf("store: put server version: plugin %q: %w", sv.PluginID, engine.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: put server version of %q on %q: %w", sv.PluginID, sv.ServerID, s.dbErr(err))
	}
	return nil
}

// PluginServers returns the servers with saved settings or a saved version
// for the plugin.
func (s *Store) PluginServers(ctx context.Context, pluginID string) ([]string, error) {
	if err := checkText("plugin id", pluginID); err != nil {
		return nil, fmt.Errorf("store: plugin servers: %w", err)
	}
	ids := []string{}
	err := s.rdb.SelectContext(ctx, &ids, s.q(`SELECT server_id FROM server_plugins WHERE plugin_id = ?
		UNION SELECT server_id FROM server_plugin_versions WHERE plugin_id = ? ORDER BY server_id`), pluginID, pluginID)
	if err != nil {
		return nil, fmt.Errorf("store: servers of %q: %w", pluginID, s.dbErr(err))
	}
	return ids, nil
}

// AddAudit appends an audit entry and drops entries past MaxAuditRows.
func (s *Store) AddAudit(ctx context.Context, e engine.AuditEntry) error {
	if err := checkTexts("actor", e.Actor, "action", e.Action, "server id", e.ServerID, "plugin id", e.PluginID, "version", e.Version, "detail", e.Detail); err != nil {
		return fmt.Errorf("store: add audit entry: %w", err)
	}
	if e.Actor == "" || e.Action == "" {
		return fmt.Errorf("store: add audit entry: actor and action are required: %w", engine.ErrInvalid)
	}
	at := nowMicros()
	if !e.At.IsZero() {
		at = toMicros(e.At)
	}
	err := s.writeTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q("INSERT INTO audit_log (at, actor, action, server_id, plugin_id, version, detail) VALUES (?, ?, ?, ?, ?, ?, ?)"),
			at, e.Actor, e.Action, e.ServerID, e.PluginID, e.Version, e.Detail); err != nil {
			return s.dbErr(err)
		}
		_, err := tx.ExecContext(ctx, s.q("DELETE FROM audit_log WHERE id <= (SELECT MAX(id) FROM audit_log) - ?"), engine.MaxAuditRows)
		return s.dbErr(err)
	})
	if err != nil {
		return fmt.Errorf("store: add audit entry: %w", err)
	}
	return nil
}

type auditRow struct {
	ID       int64  `db:"id"`
	At       int64  `db:"at"`
	Actor    string `db:"actor"`
	Action   string `db:"action"`
	ServerID string `db:"server_id"`
	PluginID string `db:"plugin_id"`
	Version  string `db:"version"`
	Detail   string `db:"detail"`
}

// ListAudit returns audit entries, newest first.
func (s *Store) ListAudit(ctx context.Context, q engine.AuditQuery) ([]engine.AuditEntry, error) {
	limit := q.Limit
	if limit <= 0 || limit > engine.MaxAuditPage {
		limit = engine.MaxAuditPage
	}
	var where []string
	var args []any
	if !q.All {
		if len(q.ServerIDs) == 0 {
			return []engine.AuditEntry{}, nil
		}
		if len(q.ServerIDs) > maxAuditServers {
			return nil, fmt.Errorf("store: list audit: at most %d servers: %w", maxAuditServers, engine.ErrInvalid)
		}
		ph := make([]string, len(q.ServerIDs))
		for i, id := range q.ServerIDs {
			if err := checkText("server id", id); err != nil {
				return nil, fmt.Errorf("store: list audit: %w", err)
			}
			ph[i] = "?"
			args = append(args, id)
		}
		where = append(where, "server_id IN ("+strings.Join(ph, ", ")+")")
	}
	if q.Before > 0 {
		where = append(where, "id < ?")
		args = append(args, q.Before)
	}
	query := "SELECT id, at, actor, action, server_id, plugin_id, version, detail FROM audit_log"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY id DESC LIMIT ?"
	args = append(args, limit)
	var rows []auditRow
	if err := s.rdb.SelectContext(ctx, &rows, s.q(query), args...); err != nil {
		return nil, fmt.Errorf("store: list audit: %w", s.dbErr(err))
	}
	out := make([]engine.AuditEntry, len(rows))
	for i, r := range rows {
		out[i] = engine.AuditEntry{ID: r.ID, At: fromMicros(r.At), Actor: r.Actor, Action: r.Action, ServerID: r.ServerID, PluginID: r.PluginID, Version: r.Version, Detail: r.Detail}
	}
	return out, nil
}
