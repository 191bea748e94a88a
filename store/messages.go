package store

import (
	"context"
	"fmt"

	"github.com/maidhq/maid/engine"
)

var _ engine.MessageStore = (*Store)(nil)

// RecordMessage remembers that s.PluginID sent messageID on s.ServerID in
// a ring of keep slots (migration 0045): the head row counts the ids
// recorded (its upsert serialises concurrent sends of one scope, on both
// dialects), the id takes slot (count-1) % keep, replacing the oldest.
func (s *Store) RecordMessage(ctx context.Context, sc engine.Scope, messageID string, keep int) error {
	if err := checkTexts("plugin id", sc.PluginID, "server id", sc.ServerID, "message id", messageID); err != nil {
		return fmt.Errorf("store: record message: %w", err)
	}
	if keep < 1 {
		keep = 1
	}
	tx, err := s.wdb.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: record message: %w", s.dbErr(err))
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	var recorded int64
	if err := tx.GetContext(ctx, &recorded, s.q(`INSERT INTO plugin_message_heads (plugin_id, server_id, recorded) VALUES (?, ?, 1)
		ON CONFLICT (plugin_id, server_id) DO UPDATE SET recorded = plugin_message_heads.recorded + 1
		RETURNING recorded`), sc.PluginID, sc.ServerID); err != nil {
		return fmt.Errorf("store: record message: %w", s.dbErr(err))
	}
	slot := (recorded - 1) % int64(keep)
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO plugin_messages (plugin_id, server_id, slot, message_id) VALUES (?, ?, ?, ?)
		ON CONFLICT (plugin_id, server_id, slot) DO UPDATE SET message_id = excluded.message_id`),
		sc.PluginID, sc.ServerID, slot, messageID); err != nil {
		return fmt.Errorf("store: record message: %w", s.dbErr(err))
	}
	// Slots past keep exist only if keep shrank: they hold older ids.
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM plugin_messages WHERE plugin_id = ? AND server_id = ? AND slot >= ?`),
		sc.PluginID, sc.ServerID, keep); err != nil {
		return fmt.Errorf("store: record message: %w", s.dbErr(err))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: record message: %w", s.dbErr(err))
	}
	return nil
}

// SentMessage reports whether messageID is among the ids recorded for sc.
func (s *Store) SentMessage(ctx context.Context, sc engine.Scope, messageID string) (bool, error) {
	if err := checkTexts("plugin id", sc.PluginID, "server id", sc.ServerID, "message id", messageID); err != nil {
		return false, fmt.Errorf("store: sent message: %w", err)
	}
	var n int
	if err := s.rdb.GetContext(ctx, &n, s.q(`SELECT COUNT(*) FROM plugin_messages WHERE plugin_id = ? AND server_id = ? AND message_id = ?`),
		sc.PluginID, sc.ServerID, messageID); err != nil {
		return false, fmt.Errorf("store: sent message: %w", s.dbErr(err))
	}
	return n > 0, nil
}

// RecordedByOther reports whether a plugin other than sc.PluginID has
// messageID among its ids kept on sc.ServerID (index plugin_messages_server).
func (s *Store) RecordedByOther(ctx context.Context, sc engine.Scope, messageID string) (bool, error) {
	if err := checkTexts("plugin id", sc.PluginID, "server id", sc.ServerID, "message id", messageID); err != nil {
		return false, fmt.Errorf("store: message recorded by another plugin: %w", err)
	}
	var n int
	if err := s.rdb.GetContext(ctx, &n, s.q(`SELECT COUNT(*) FROM (SELECT 1 FROM plugin_messages WHERE server_id = ? AND message_id = ? AND plugin_id <> ? LIMIT 1) AS one`),
		sc.ServerID, messageID, sc.PluginID); err != nil {
		return false, fmt.Errorf("store: message recorded by another plugin: %w", s.dbErr(err))
	}
	return n > 0, nil
}

// ForgetMessage drops messageID from sc's record; its slot stays free until
// the ring comes round to it.
func (s *Store) ForgetMessage(ctx context.Context, sc engine.Scope, messageID string) error {
	if err := checkTexts("plugin id", sc.PluginID, "server id", sc.ServerID, "message id", messageID); err != nil {
		return fmt.Errorf("store: forget message: %w", err)
	}
	if _, err := s.wdb.ExecContext(ctx, s.q(`DELETE FROM plugin_messages WHERE plugin_id = ? AND server_id = ? AND message_id = ?`),
		sc.PluginID, sc.ServerID, messageID); err != nil {
		return fmt.Errorf("store: forget message: %w", s.dbErr(err))
	}
	return nil
}
