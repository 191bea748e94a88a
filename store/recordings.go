package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/maidhq/maid/engine"
)

var _ engine.RecordingStore = (*Store)(nil)

// recordingRow is one row of plugin_recordings without its body.
type recordingRow struct {
	ID        string `db:"id"`
	PluginID  string `db:"plugin_id"`
	ServerID  string `db:"server_id"`
	CreatedAt int64  `db:"created_at"`
	What      string `db:"what"`
	Failed    bool   `db:"failed"`
	Bytes     int    `db:"bytes"`
}

func (r recordingRow) info() engine.RecordingInfo {
	return engine.RecordingInfo{ID: r.ID, PluginID: r.PluginID, ServerID: r.ServerID,
		Time: time.UnixMicro(r.CreatedAt).UTC(), What: r.What, Failed: r.Failed, Bytes: r.Bytes}
}

// PutRecording stores a recording and drops the oldest of its (plugin,
// server) beyond keep, in one transaction.
func (s *Store) PutRecording(ctx context.Context, info engine.RecordingInfo, body []byte, keep int) error {
	if err := checkTexts("recording id", info.ID, "plugin id", info.PluginID, "server id", info.ServerID, "what", info.What); err != nil {
		return fmt.Errorf("store: put recording: %w", err)
	}
	if keep < 1 {
		keep = 1
	}
	tx, err := s.wdb.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: put recording: %w", s.dbErr(err))
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO plugin_recordings (id, plugin_id, server_id, created_at, what, failed, body)
		VALUES (?, ?, ?, ?, ?, ?, ?)`), info.ID, info.PluginID, info.ServerID, info.Time.UnixMicro(), info.What, info.Failed, body); err != nil {
		return fmt.Errorf("store: put recording: %w", s.dbErr(err))
	}
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM plugin_recordings WHERE plugin_id = ? AND server_id = ? AND id NOT IN (
		SELECT id FROM plugin_recordings WHERE plugin_id = ? AND server_id = ? ORDER BY created_at DESC, id DESC LIMIT ?)`),
		info.PluginID, info.ServerID, info.PluginID, info.ServerID, keep); err != nil {
		return fmt.Errorf("store: put recording: %w", s.dbErr(err))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: put recording: %w", s.dbErr(err))
	}
	return nil
}

// GetRecording returns one recording of (pluginID, serverID).
func (s *Store) GetRecording(ctx context.Context, pluginID, serverID, id string) (engine.RecordingInfo, []byte, error) {
	if err := checkTexts("plugin id", pluginID, "server id", serverID, "recording id", id); err != nil {
		return engine.RecordingInfo{}, nil, fmt.Errorf("store: get recording: %w", err)
	}
	var row struct {
		recordingRow
		Body []byte `db:"body"`
	}
	err := s.rdb.GetContext(ctx, &row, s.q(`SELECT id, plugin_id, server_id, created_at, what, failed, length(body) AS bytes, body
		FROM plugin_recordings WHERE plugin_id = ? AND server_id = ? AND id = ?`), pluginID, serverID, id)
	if errors.Is(err, sql.ErrNoRows) {
		return engine.RecordingInfo{}, nil, fmt.Errorf("store: recording %q of %s on %s: %w", id, pluginID, serverID, engine.ErrNotFound)
	}
	if err != nil {
		return engine.RecordingInfo{}, nil, fmt.Errorf("store: get recording: %w", s.dbErr(err))
	}
	return row.info(), row.Body, nil
}

// ListRecordings returns the recordings of (pluginID, serverID), newest first.
func (s *Store) ListRecordings(ctx context.Context, pluginID, serverID string) ([]engine.RecordingInfo, error) {
	if err := checkTexts("plugin id", pluginID, "server id", serverID); err != nil {
		return nil, fmt.Errorf("store: list recordings: %w", err)
	}
	var rows []recordingRow
	if err := s.rdb.SelectContext(ctx, &rows, s.q(`SELECT id, plugin_id, server_id, created_at, what, failed, length(body) AS bytes
		FROM plugin_recordings WHERE plugin_id = ? AND server_id = ? ORDER BY created_at DESC, id DESC LIMIT 1000`), pluginID, serverID); err != nil {
		return nil, fmt.Errorf("store: list recordings: %w", s.dbErr(err))
	}
	out := make([]engine.RecordingInfo, len(rows))
	for i, r := range rows {
		out[i] = r.info()
	}
	return out, nil
}

// SetRecordAll turns recording of every event on or off for (plugin, server).
func (s *Store) SetRecordAll(ctx context.Context, pluginID, serverID string, on bool) error {
	if err := checkTexts("plugin id", pluginID, "server id", serverID); err != nil {
		return fmt.Errorf("store: set record all: %w", err)
	}
	_, err := s.wdb.ExecContext(ctx, s.q(`INSERT INTO plugin_recording_settings (plugin_id, server_id, record_all) VALUES (?, ?, ?)
		ON CONFLICT (plugin_id, server_id) DO UPDATE SET record_all = excluded.record_all`), pluginID, serverID, on)
	if err != nil {
		return fmt.Errorf("store: set record all of %s on %s: %w", pluginID, serverID, s.dbErr(err))
	}
	return nil
}

// RecordAll reports whether recording of every event is on for (plugin, server).
func (s *Store) RecordAll(ctx context.Context, pluginID, serverID string) (bool, error) {
	var on bool
	err := s.rdb.GetContext(ctx, &on, s.q(`SELECT record_all FROM plugin_recording_settings WHERE plugin_id = ? AND server_id = ?`), pluginID, serverID)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: record all of %s on %s: %w", pluginID, serverID, s.dbErr(err))
	}
	return on, nil
}
