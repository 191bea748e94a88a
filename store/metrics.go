package store

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/maidhq/maid/engine"
)

func checkDay(field, day string) error {
	if _, err := time.Parse(time.DateOnly, day); err != nil || len(day) != len(time.DateOnly) {
		return fmt.Errorf("%s: must be a date YYYY-MM-DD, got %q: %w", field, day, engine.ErrInvalid)
	}
	return nil
}

// MetricAdd adds delta to the counter of (server, namespace, name, day),
// creating it at delta. A name new to (server, namespace) fails with
// ErrQuota, writing nothing, when the scope already has maxNames distinct
// names (maxNames <= 0: no bound).
func (s *Store) MetricAdd(ctx context.Context, serverID, namespace, name, day string, delta float64, maxNames int) error {
	if err := checkTexts("server_id", serverID, "namespace", namespace, "name", name); err != nil {
		return fmt.Errorf("store: metric add: %w", err)
	}
	if err := checkDay("day", day); err != nil {
		return fmt.Errorf("store: metric add: %w", err)
	}
	if math.IsNaN(delta) || math.IsInf(delta, 0) {
		return fmt.Errorf("store: metric add: delta: must be a finite number: %w", engine.ErrInvalid)
	}
	err := s.writeTx(ctx, func(tx *sqlx.Tx) error {
		var known int
		if err := tx.GetContext(ctx, &known, s.q("SELECT count(*) FROM metric_names WHERE server_id = ? AND namespace = ? AND name = ?"), serverID, namespace, name); err != nil {
			return s.dbErr(err)
		}
		if known == 0 {
			if maxNames > 0 {
				if s.d == dialectPostgres {
					// Concurrent first uses of two new names would both see
					// room for one; the scope's lock orders them.
					if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext('maid:metric-names:' || $1 || ':' || $2))", serverID, namespace); err != nil {
						return s.dbErr(err)
					}
				}
				var n int
				if err := tx.GetContext(ctx, &n, s.q("SELECT count(*) FROM metric_names WHERE server_id = ? AND namespace = ?"), serverID, namespace); err != nil {
					return s.dbErr(err)
				}
				if n >= maxNames {
					return fmt.Errorf("metric %q would be a new name past the limit of %d distinct metric names per plugin and server: %w", name, maxNames, engine.ErrQuota)
				}
			}
			if _, err := tx.ExecContext(ctx, s.q("INSERT INTO metric_names (server_id, namespace, name) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"), serverID, namespace, name); err != nil {
				return s.dbErr(err)
			}
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO metrics (server_id, namespace, name, day, value) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (server_id, namespace, name, day) DO UPDATE SET value = metrics.value + excluded.value`),
			serverID, namespace, name, day, delta)
		return s.dbErr(err)
	})
	if err != nil {
		return fmt.Errorf("store: metric add %q: %w", name, err)
	}
	return nil
}

// MetricRange returns the counters of days in [fromDay, toDay] that have data.
func (s *Store) MetricRange(ctx context.Context, serverID, namespace, name, fromDay, toDay string) (map[string]float64, error) {
	if err := checkTexts("server_id", serverID, "namespace", namespace, "name", name); err != nil {
		return nil, fmt.Errorf("store: metric range: %w", err)
	}
	if err := checkDay("from_day", fromDay); err != nil {
		return nil, fmt.Errorf("store: metric range: %w", err)
	}
	if err := checkDay("to_day", toDay); err != nil {
		return nil, fmt.Errorf("store: metric range: %w", err)
	}
	rows, err := s.rdb.QueryContext(ctx, s.q("SELECT day, value FROM metrics WHERE server_id = ? AND namespace = ? AND name = ? AND day >= ? AND day <= ?"),
		serverID, namespace, name, fromDay, toDay)
	if err != nil {
		return nil, fmt.Errorf("store: metric range %q: %w", name, s.dbErr(err))
	}
	defer rows.Close()
	out := map[string]float64{}
	for rows.Next() {
		var day string
		var v float64
		if err := rows.Scan(&day, &v); err != nil {
			return nil, fmt.Errorf("store: metric range %q: %w", name, err)
		}
		out[day] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: metric range %q: %w", name, s.dbErr(err))
	}
	return out, nil
}
