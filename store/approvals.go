package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// DashboardApproval returns the digest of the iframe dashboard an admin
// approved for a plugin, or "" if none is approved.
func (s *Store) DashboardApproval(ctx context.Context, pluginID string) (string, error) {
	if err := checkText("plugin id", pluginID); err != nil {
		return "", fmt.Errorf("store: dashboard approval: %w", err)
	}
	var digest string
	err := s.rdb.GetContext(ctx, &digest, s.q("SELECT digest FROM dashboard_approvals WHERE plugin_id = ?"), pluginID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: dashboard approval of %q: %w", pluginID, s.dbErr(err))
	}
	return digest, nil
}

// SetDashboardApproval records that user by approved the plugin's iframe
// dashboard with this digest; an empty digest withdraws the approval. The
// approval goes with the plugin when it is uninstalled.
func (s *Store) SetDashboardApproval(ctx context.Context, pluginID, digest, by string) error {
	if err := checkTexts("plugin id", pluginID, "digest", digest, "approved by", by); err != nil {
		return fmt.Errorf("store: set dashboard approval: %w", err)
	}
	var err error
	if digest == "" {
		_, err = s.wdb.ExecContext(ctx, s.q("DELETE FROM dashboard_approvals WHERE plugin_id = ?"), pluginID)
	} else {
		_, err = s.wdb.ExecContext(ctx, s.q(`INSERT INTO dashboard_approvals (plugin_id, digest, approved_by, approved_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (plugin_id) DO UPDATE SET digest = excluded.digest, approved_by = excluded.approved_by, approved_at = excluded.approved_at`),
			pluginID, digest, by, nowMicros())
	}
	if err != nil {
		return fmt.Errorf("store: set dashboard approval of %q: %w", pluginID, s.dbErr(err))
	}
	return nil
}
