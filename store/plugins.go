package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/maidhq/maid/engine"
)

func nowMicros() int64 { return time.Now().UTC().UnixMicro() }

func pqIdent(s string) string { return pq.QuoteIdentifier(s) }

// PutPlugin inserts or replaces a plugin by id. On replace, InstalledAt is
// kept from the first install; settings, KV, metrics and SQL data stay.
// Zero times mean now. Times are stored with microsecond precision.
func (s *Store) PutPlugin(ctx context.Context, p engine.PluginRecord) error {
	if err := checkTexts("id", p.ID, "version", p.Version); err != nil {
		return fmt.Errorf("store: put plugin: %w", err)
	}
	if p.ID == "" {
		return fmt.Errorf("store: put plugin: id: must not be empty: %w", engine.ErrInvalid)
	}
	if err := s.upsertPlugin(ctx, s.wdb, p, nowMicros()); err != nil {
		return fmt.Errorf("store: put plugin %q: %w", p.ID, err)
	}
	return nil
}

// upsertPlugin inserts or replaces the plugins row of p (zero times mean
// now; a replace keeps installed_at). Errors come through dbErr.
func (s *Store) upsertPlugin(ctx context.Context, ex sqlx.ExecerContext, p engine.PluginRecord, now int64) error {
	inst, upd := now, now
	if !p.InstalledAt.IsZero() {
		inst = toMicros(p.InstalledAt)
	}
	if !p.UpdatedAt.IsZero() {
		upd = toMicros(p.UpdatedAt)
	}
	archive := p.Archive
	if archive == nil {
		archive = []byte{}
	}
	_, err := ex.ExecContext(ctx, s.q(`INSERT INTO plugins (id, version, archive, installed_at, updated_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET version = excluded.version, archive = excluded.archive, updated_at = excluded.updated_at`),
		p.ID, p.Version, archive, inst, upd)
	return s.dbErr(err)
}

type pluginRow struct {
	ID          string `db:"id"`
	Version     string `db:"version"`
	Archive     []byte `db:"archive"`
	InstalledAt int64  `db:"installed_at"`
	UpdatedAt   int64  `db:"updated_at"`
}

func (r pluginRow) record() engine.PluginRecord {
	return engine.PluginRecord{ID: r.ID, Version: r.Version, Archive: r.Archive,
		InstalledAt: fromMicros(r.InstalledAt), UpdatedAt: fromMicros(r.UpdatedAt)}
}

// GetPlugin returns the plugin with its archive, or ErrNotFound.
func (s *Store) GetPlugin(ctx context.Context, id string) (engine.PluginRecord, error) {
	if err := checkText("id", id); err != nil {
		return engine.PluginRecord{}, fmt.Errorf("store: get plugin: %w", err)
	}
	var r pluginRow
	err := s.rdb.GetContext(ctx, &r, s.q("SELECT id, version, archive, installed_at, updated_at FROM plugins WHERE id = ?"), id)
	if errors.Is(err, sql.ErrNoRows) {
		return engine.PluginRecord{}, fmt.Errorf("store: get plugin %q: %w", id, engine.ErrNotFound)
	}
	if err != nil {
		return engine.PluginRecord{}, fmt.Errorf("store: get plugin %q: %w", id, s.dbErr(err))
	}
	rec := r.record()
	if rec.Archive == nil {
		rec.Archive = []byte{}
	}
	return rec, nil
}

// ListPlugins returns every plugin sorted by id, without archives.
func (s *Store) ListPlugins(ctx context.Context) ([]engine.PluginRecord, error) {
	var rows []pluginRow
	if err := s.rdb.SelectContext(ctx, &rows, "SELECT id, version, installed_at, updated_at FROM plugins ORDER BY id"); err != nil {
		return nil, fmt.Errorf("store: list plugins: %w", s.dbErr(err))
	}
	out := make([]engine.PluginRecord, len(rows))
	for i, r := range rows {
		out[i] = r.record()
		out[i].Archive = nil
	}
	return out, nil
}

// DeletePlugin removes the plugin, its per-server settings, its KV data in
// every scope, the metrics of its namespace and its SQL database (SQLite
// file or PostgreSQL schema and role). ErrNotFound if it was not installed;
// leftover SQL data of that id is removed anyway.
func (s *Store) DeletePlugin(ctx context.Context, id string) error {
	if err := checkText("id", id); err != nil {
		return fmt.Errorf("store: delete plugin: %w", err)
	}
	var found bool
	err := s.writeTx(ctx, func(tx *sqlx.Tx) error {
		// kv, kv_usage and server_plugins go by ON DELETE CASCADE.
		res, err := tx.ExecContext(ctx, s.q("DELETE FROM plugins WHERE id = ?"), id)
		if err != nil {
			return s.dbErr(err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		found = n > 0
		if _, err := tx.ExecContext(ctx, s.q("DELETE FROM metrics WHERE namespace = ?"), id); err != nil {
			return s.dbErr(err)
		}
		if _, err := tx.ExecContext(ctx, s.q("DELETE FROM metric_names WHERE namespace = ?"), id); err != nil {
			return s.dbErr(err)
		}
		if s.sql != nil {
			return s.sql.dropInTx(ctx, tx, id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: delete plugin %q: %w", id, err)
	}
	if s.sql != nil {
		if err := s.sql.dropAfter(id); err != nil {
			return fmt.Errorf("store: delete plugin %q: %w", id, err)
		}
	}
	if !found {
		return fmt.Errorf("store: delete plugin %q: %w", id, engine.ErrNotFound)
	}
	return nil
}

type serverPluginRow struct {
	ServerID string `db:"server_id"`
	PluginID string `db:"plugin_id"`
	Enabled  bool   `db:"enabled"`
	Options  string `db:"options"`
}

func (r serverPluginRow) state() (engine.ServerPlugin, error) {
	sp := engine.ServerPlugin{ServerID: r.ServerID, PluginID: r.PluginID, Enabled: r.Enabled, Options: map[string]json.RawMessage{}}
	if err := json.Unmarshal([]byte(r.Options), &sp.Options); err != nil {
		return sp, fmt.Errorf("decode saved options of plugin %q on server %q: %w", r.PluginID, r.ServerID, err)
	}
	return sp, nil
}

// GetServerPlugin returns the plugin's state on a server; never configured
// means disabled with no options (not ErrNotFound). Options is never nil.
func (s *Store) GetServerPlugin(ctx context.Context, serverID, pluginID string) (engine.ServerPlugin, error) {
	if err := checkTexts("server_id", serverID, "plugin_id", pluginID); err != nil {
		return engine.ServerPlugin{}, fmt.Errorf("store: get server plugin: %w", err)
	}
	var r serverPluginRow
	err := s.rdb.GetContext(ctx, &r, s.q("SELECT server_id, plugin_id, enabled, options FROM server_plugins WHERE server_id = ? AND plugin_id = ?"), serverID, pluginID)
	if errors.Is(err, sql.ErrNoRows) {
		return engine.ServerPlugin{ServerID: serverID, PluginID: pluginID, Options: map[string]json.RawMessage{}}, nil
	}
	if err != nil {
		return engine.ServerPlugin{}, fmt.Errorf("store: get server plugin %q on %q: %w", pluginID, serverID, s.dbErr(err))
	}
	sp, err := r.state()
	if err != nil {
		return engine.ServerPlugin{}, fmt.Errorf("store: get server plugin: %w", err)
	}
	return sp, nil
}

// ListServerPlugins returns the states saved for one server, by plugin id.
func (s *Store) ListServerPlugins(ctx context.Context, serverID string) ([]engine.ServerPlugin, error) {
	if err := checkText("server_id", serverID); err != nil {
		return nil, fmt.Errorf("store: list server plugins: %w", err)
	}
	var rows []serverPluginRow
	if err := s.rdb.SelectContext(ctx, &rows, s.q("SELECT server_id, plugin_id, enabled, options FROM server_plugins WHERE server_id = ? ORDER BY plugin_id"), serverID); err != nil {
		return nil, fmt.Errorf("store: list server plugins of %q: %w", serverID, s.dbErr(err))
	}
	out, err := convertRows(rows, serverPluginRow.state)
	if err != nil {
		return nil, fmt.Errorf("store: list server plugins: %w", err)
	}
	return out, nil
}

// SetEnabled enables or disables an installed plugin on a server
// (ErrNotFound if the plugin is not installed). Saved options stay.
func (s *Store) SetEnabled(ctx context.Context, serverID, pluginID string, enabled bool) error {
	if err := checkTexts("server_id", serverID, "plugin_id", pluginID); err != nil {
		return fmt.Errorf("store: set enabled: %w", err)
	}
	_, err := s.wdb.ExecContext(ctx, s.q(`INSERT INTO server_plugins (server_id, plugin_id, enabled, options) VALUES (?, ?, ?, '{}')
		ON CONFLICT (server_id, plugin_id) DO UPDATE SET enabled = excluded.enabled`), serverID, pluginID, enabled)
	if isFKViolation(err) {
		return fmt.Errorf("store: set enabled: plugin %q: %w", pluginID, engine.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: set enabled of %q on %q: %w", pluginID, serverID, s.dbErr(err))
	}
	return nil
}

// SetOptions replaces the saved option values of an installed plugin on a
// server (ErrNotFound if not installed). Enablement stays.
func (s *Store) SetOptions(ctx context.Context, serverID, pluginID string, options map[string]json.RawMessage) error {
	if err := checkTexts("server_id", serverID, "plugin_id", pluginID); err != nil {
		return fmt.Errorf("store: set options: %w", err)
	}
	if options == nil {
		options = map[string]json.RawMessage{}
	}
	b, err := json.Marshal(options)
	if err != nil {
		return fmt.Errorf("store: set options: options: must be JSON values: %w: %w", engine.ErrInvalid, err)
	}
	if err := checkText("options", string(b)); err != nil {
		return fmt.Errorf("store: set options: %w", err)
	}
	_, err = s.wdb.ExecContext(ctx, s.q(`INSERT INTO server_plugins (server_id, plugin_id, enabled, options) VALUES (?, ?, ?, ?)
		ON CONFLICT (server_id, plugin_id) DO UPDATE SET options = excluded.options`), serverID, pluginID, false, string(b))
	if isFKViolation(err) {
		return fmt.Errorf("store: set options: plugin %q: %w", pluginID, engine.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: set options of %q on %q: %w", pluginID, serverID, s.dbErr(err))
	}
	return nil
}

// EnabledPlugins returns the ids of plugins enabled on a server, sorted.
func (s *Store) EnabledPlugins(ctx context.Context, serverID string) ([]string, error) {
	if err := checkText("server_id", serverID); err != nil {
		return nil, fmt.Errorf("store: enabled plugins: %w", err)
	}
	ids := []string{}
	if err := s.rdb.SelectContext(ctx, &ids, s.q("SELECT plugin_id FROM server_plugins WHERE server_id = ? AND enabled = ? ORDER BY plugin_id"), serverID, true); err != nil {
		return nil, fmt.Errorf("store: enabled plugins of %q: %w", serverID, s.dbErr(err))
	}
	return ids, nil
}
