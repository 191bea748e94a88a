package store

// Cluster mode's tables (migration 0040, PostgreSQL only): the
// cluster.Store port. Every write made for a shard is conditional on the
// lease row still naming the writer's node and generation and not having
// expired, checked in the same statement or transaction as the write, with
// the lease row share-locked: a hand-over (which updates the row) and a
// fenced write are ordered by the row lock, so once the new owner holds
// the shard no write of the old one commits.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/maidhq/maid/cluster"
	"github.com/maidhq/maid/engine"
)

// Notification channels: cluster wakes the nodes' loops; plugins is sent
// by the plugins table's trigger (migration 0041).
const (
	notifyCluster = "maid_cluster"
	notifyPlugins = "maid_plugins"
)

var _ cluster.Store = (*Store)(nil)

func (s *Store) needCluster(op string) error {
	if s.d != dialectPostgres {
		return fmt.Errorf("store: %s: %w (this store is SQLite)", op, cluster.ErrUnsupported)
	}
	return nil
}

func pgInterval(d time.Duration) string {
	return strconv.FormatInt(d.Microseconds(), 10) + " microseconds"
}

// JoinNode registers a node (again, after a restart with the same id).
func (s *Store) JoinNode(ctx context.Context, id, addr string) error {
	if err := s.needCluster("join node"); err != nil {
		return err
	}
	if err := checkTexts("node id", id, "addr", addr); err != nil || id == "" {
		return fmt.Errorf("store: join node: %w: node id must be non-empty text", engine.ErrInvalid)
	}
	_, err := s.wdb.ExecContext(ctx, `INSERT INTO cluster_nodes (id, addr) VALUES ($1, $2)
		ON CONFLICT (id) DO UPDATE SET addr = $2, started_at = now(), heartbeat_at = now(), draining = false, left_at = NULL`, id, addr)
	if err != nil {
		return fmt.Errorf("store: join node: %w", s.dbErr(err))
	}
	return nil
}

// Heartbeat renews a node and reports whether it is asked to drain.
func (s *Store) Heartbeat(ctx context.Context, id string) (bool, error) {
	var draining bool
	err := s.wdb.GetContext(ctx, &draining, `UPDATE cluster_nodes SET heartbeat_at = now() WHERE id = $1 RETURNING draining`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("store: heartbeat: node %q: %w", id, engine.ErrNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("store: heartbeat: %w", s.dbErr(err))
	}
	return draining, nil
}

// LeaveNode marks a node gone.
func (s *Store) LeaveNode(ctx context.Context, id string) error {
	if _, err := s.wdb.ExecContext(ctx, `UPDATE cluster_nodes SET left_at = now() WHERE id = $1`, id); err != nil {
		return fmt.Errorf("store: leave node: %w", s.dbErr(err))
	}
	return nil
}

// SetDraining asks a live node to hand its shards over and exit.
func (s *Store) SetDraining(ctx context.Context, id string) error {
	if err := s.needCluster("drain node"); err != nil {
		return err
	}
	res, err := s.wdb.ExecContext(ctx, `UPDATE cluster_nodes SET draining = true WHERE id = $1 AND left_at IS NULL`, id)
	if err != nil {
		return fmt.Errorf("store: drain node: %w", s.dbErr(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: drain node %q: %w (no such node in the cluster)", id, engine.ErrNotFound)
	}
	_ = s.Notify(ctx)
	return nil
}

// Nodes lists the nodes that have not left, oldest first.
func (s *Store) Nodes(ctx context.Context, nodeTTL time.Duration) ([]cluster.Node, error) {
	if err := s.needCluster("list nodes"); err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, addr, started_at, heartbeat_at, draining,
		heartbeat_at > now() - $1::interval, left_at IS NOT NULL
		FROM cluster_nodes WHERE left_at IS NULL OR left_at > now() - interval '1 hour' ORDER BY started_at, id`, pgInterval(nodeTTL))
	if err != nil {
		return nil, fmt.Errorf("store: list nodes: %w", s.dbErr(err))
	}
	defer rows.Close()
	var out []cluster.Node
	for rows.Next() {
		var n cluster.Node
		if err := rows.Scan(&n.ID, &n.Addr, &n.StartedAt, &n.HeartbeatAt, &n.Draining, &n.Live, &n.Left); err != nil {
			return nil, fmt.Errorf("store: list nodes: %w", s.dbErr(err))
		}
		n.Live = n.Live && !n.Left
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list nodes: %w", s.dbErr(err))
	}
	return out, nil
}

// EnsureShards creates the lease rows of shards [0, count).
func (s *Store) EnsureShards(ctx context.Context, count int) error {
	if err := s.needCluster("ensure shards"); err != nil {
		return err
	}
	if count < 1 || count > 1<<16 {
		return fmt.Errorf("store: ensure shards: %w: shard count must be 1-65536", engine.ErrInvalid)
	}
	return s.clusterTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `LOCK TABLE cluster_leases IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return fmt.Errorf("store: ensure shards: %w", s.dbErr(err))
		}
		var other sql.NullInt64
		if err := tx.GetContext(ctx, &other, `SELECT max(shard_count) FROM cluster_leases WHERE shard_count <> $1`, count); err != nil {
			return fmt.Errorf("store: ensure shards: %w", s.dbErr(err))
		}
		if other.Valid {
			return fmt.Errorf("store: ensure shards: %w: the cluster runs %d shards, this node was started with --shard-count %d", engine.ErrInvalid, other.Int64, count)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO cluster_leases (shard, shard_count)
			SELECT g, $1 FROM generate_series(0, $1 - 1) g ON CONFLICT (shard) DO NOTHING`, count); err != nil {
			return fmt.Errorf("store: ensure shards: %w", s.dbErr(err))
		}
		return nil
	})
}

const leaseCols = `shard, shard_count, coalesce(node, ''), generation, expires_at, renewed_at,
	session_id, seq, resume_url, handovers, last_event, expires_at <= now(),
	coalesce(extract(epoch FROM now() - last_event), -1)`

func scanLease(sc interface{ Scan(...any) error }) (cluster.Lease, error) {
	var l cluster.Lease
	var exp, ren, last sql.NullTime
	err := sc.Scan(&l.Shard, &l.ShardCount, &l.Node, &l.Generation, &exp, &ren,
		&l.Session.ID, &l.Session.Seq, &l.Session.ResumeURL, &l.Handovers, &last, &l.Expired, &l.Lag)
	l.ExpiresAt, l.RenewedAt, l.LastEvent = exp.Time, ren.Time, last.Time
	return l, err
}

// Leases lists every shard's lease by shard.
func (s *Store) Leases(ctx context.Context) ([]cluster.Lease, error) {
	if err := s.needCluster("list leases"); err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+leaseCols+` FROM cluster_leases ORDER BY shard`)
	if err != nil {
		return nil, fmt.Errorf("store: list leases: %w", s.dbErr(err))
	}
	defer rows.Close()
	var out []cluster.Lease
	for rows.Next() {
		l, err := scanLease(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list leases: %w", s.dbErr(err))
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list leases: %w", s.dbErr(err))
	}
	return out, nil
}

// Acquire takes a free or expired shard with the next generation.
func (s *Store) Acquire(ctx context.Context, shard int, node string, ttl time.Duration) (cluster.Lease, bool, error) {
	if err := s.needCluster("acquire lease"); err != nil {
		return cluster.Lease{}, false, err
	}
	row := s.wdb.QueryRowContext(ctx, `UPDATE cluster_leases SET node = $2, generation = generation + 1,
		expires_at = now() + $3::interval, acquired_at = now(), renewed_at = now(),
		handovers = handovers + CASE WHEN generation > 0 THEN 1 ELSE 0 END
		WHERE shard = $1 AND (node IS NULL OR expires_at <= now())
		RETURNING `+leaseCols, shard, node, pgInterval(ttl))
	l, err := scanLease(row)
	if errors.Is(err, sql.ErrNoRows) {
		return cluster.Lease{}, false, nil
	}
	if err != nil {
		return cluster.Lease{}, false, fmt.Errorf("store: acquire lease of shard %d: %w", shard, s.dbErr(err))
	}
	return l, true, nil
}

// Renew extends the leases held by node with the given generations.
func (s *Store) Renew(ctx context.Context, node string, held map[int]int64, ttl time.Duration) (map[int]bool, error) {
	shards := make([]int64, 0, len(held))
	gens := make([]int64, 0, len(held))
	for sh, g := range held {
		shards = append(shards, int64(sh))
		gens = append(gens, g)
	}
	rows, err := s.wdb.QueryContext(ctx, `UPDATE cluster_leases l SET expires_at = now() + $2::interval, renewed_at = now()
		FROM unnest($3::bigint[], $4::bigint[]) AS h(shard, generation)
		WHERE l.shard = h.shard AND l.generation = h.generation AND l.node = $1 AND l.expires_at > now()
		RETURNING l.shard`, node, pgInterval(ttl), pq.Array(shards), pq.Array(gens))
	if err != nil {
		return nil, fmt.Errorf("store: renew leases: %w", s.dbErr(err))
	}
	defer rows.Close()
	out := map[int]bool{}
	for rows.Next() {
		var sh int
		if err := rows.Scan(&sh); err != nil {
			return nil, fmt.Errorf("store: renew leases: %w", s.dbErr(err))
		}
		out[sh] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: renew leases: %w", s.dbErr(err))
	}
	return out, nil
}

// clusterIdleTimeout ends the session of a node that goes silent inside
// a transaction holding a lease row's lock (partitioned from PostgreSQL
// mid-transaction): without it the lock would outlive the lease and block
// the take-over until the server noticed the dead peer, which a silent
// partition can delay indefinitely. Lease TTLs must be longer.
const clusterIdleTimeout = "2s"

// clusterTx is writeTx for transactions that lock cluster rows.
func (s *Store) clusterTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	return s.writeTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `SET LOCAL idle_in_transaction_session_timeout = '`+clusterIdleTimeout+`'`); err != nil {
			return s.dbErr(err)
		}
		return fn(tx)
	})
}

// fenceWhere is the condition every write for a shard carries.
const fenceWhere = `shard = $1 AND node = $2 AND generation = $3 AND expires_at > now()`

// Release frees a lease, saving the session to resume (an empty session
// id keeps the saved one).
func (s *Store) Release(ctx context.Context, l cluster.Lease, sess cluster.Session) error {
	return s.clusterTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE cluster_leases SET node = NULL, expires_at = 'epoch',
			session_id = CASE WHEN $4 = '' THEN session_id ELSE $4 END,
			seq = CASE WHEN $4 = '' THEN seq ELSE $5 END,
			resume_url = CASE WHEN $4 = '' THEN resume_url ELSE $6 END
			WHERE `+fenceWhere, l.Shard, l.Node, l.Generation, sess.ID, sess.Seq, sess.ResumeURL)
		if err != nil {
			return fmt.Errorf("store: release lease of shard %d: %w", l.Shard, s.dbErr(err))
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("store: release lease of shard %d generation %d: %w", l.Shard, l.Generation, cluster.ErrFenced)
		}
		if sess.ID != "" {
			if _, err := tx.ExecContext(ctx, `UPDATE cluster_events SET done = true
				WHERE shard = $1 AND session_id = $2 AND seq <= $3 AND NOT done`, l.Shard, sess.ID, sess.Seq); err != nil {
				return fmt.Errorf("store: release lease of shard %d: %w", l.Shard, s.dbErr(err))
			}
		}
		_, err = tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, notifyCluster, "release")
		return s.dbErr(err)
	})
}

// Checkpoint saves the session and marks its events up to sess.Seq done.
func (s *Store) Checkpoint(ctx context.Context, l cluster.Lease, sess cluster.Session) error {
	return s.clusterTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE cluster_leases SET session_id = $4, seq = $5, resume_url = $6, last_event = now()
			WHERE `+fenceWhere, l.Shard, l.Node, l.Generation, sess.ID, sess.Seq, sess.ResumeURL)
		if err != nil {
			return fmt.Errorf("store: checkpoint shard %d: %w", l.Shard, s.dbErr(err))
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("store: checkpoint shard %d generation %d: %w", l.Shard, l.Generation, cluster.ErrFenced)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE cluster_events SET done = true
			WHERE shard = $1 AND session_id = $2 AND seq <= $3 AND NOT done`, l.Shard, sess.ID, sess.Seq); err != nil {
			return fmt.Errorf("store: checkpoint shard %d: %w", l.Shard, s.dbErr(err))
		}
		return nil
	})
}

// Claim records an event as being delivered under l. The lease row is
// share-locked in the same statement, so a hand-over and a claim never
// interleave. An event claimed by an older generation and never done is
// claimed again (the old owner died handling it); one done, or claimed by
// this generation already, is not delivered.
func (s *Store) Claim(ctx context.Context, l cluster.Lease, sessionID string, seq int64) (bool, error) {
	var fenced, claimed int
	err := s.wdb.QueryRowContext(ctx, `WITH l AS (
			SELECT shard FROM cluster_leases WHERE `+fenceWhere+` FOR SHARE
		), ins AS (
			INSERT INTO cluster_events (shard, session_id, seq, generation)
			SELECT $1, $4, $5, $3 FROM l
			ON CONFLICT (shard, session_id, seq) DO UPDATE SET generation = EXCLUDED.generation, at = now()
			WHERE cluster_events.generation < EXCLUDED.generation AND NOT cluster_events.done
			RETURNING 1
		)
		SELECT (SELECT count(*) FROM l), (SELECT count(*) FROM ins)`,
		l.Shard, l.Node, l.Generation, sessionID, seq).Scan(&fenced, &claimed)
	if err != nil {
		return false, fmt.Errorf("store: claim event %d/%d of shard %d: %w", seq, l.Generation, l.Shard, s.dbErr(err))
	}
	if fenced == 0 {
		return false, fmt.Errorf("store: claim event of shard %d generation %d: %w", l.Shard, l.Generation, cluster.ErrFenced)
	}
	return claimed == 1, nil
}

// TakeIdentify takes a max_concurrency bucket's identify slot.
func (s *Store) TakeIdentify(ctx context.Context, bucket int, spacing time.Duration, dailyLimit int) (time.Duration, error) {
	if err := s.needCluster("take identify"); err != nil {
		return 0, err
	}
	var wait time.Duration
	err := s.clusterTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO cluster_identify (bucket) VALUES ($1) ON CONFLICT DO NOTHING`, bucket); err != nil {
			return s.dbErr(err)
		}
		var waitUS float64
		if err := tx.GetContext(ctx, &waitUS, `SELECT greatest(0, extract(epoch FROM next_at - now()) * 1e6)
			FROM cluster_identify WHERE bucket = $1 FOR UPDATE`, bucket); err != nil {
			return s.dbErr(err)
		}
		if waitUS > 0 {
			wait = time.Duration(waitUS) * time.Microsecond
			return nil
		}
		if dailyLimit > 0 {
			var n int64
			err := tx.GetContext(ctx, &n, `INSERT INTO cluster_session_starts (day, count) VALUES ((now() AT TIME ZONE 'UTC')::date, 1)
				ON CONFLICT (day) DO UPDATE SET count = cluster_session_starts.count + 1
				WHERE cluster_session_starts.count < $1 RETURNING count`, dailyLimit)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("%d session starts today: %w", dailyLimit, cluster.ErrBudget)
			}
			if err != nil {
				return s.dbErr(err)
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE cluster_identify SET next_at = now() + $2::interval WHERE bucket = $1`, bucket, pgInterval(spacing))
		return s.dbErr(err)
	})
	if err != nil {
		return 0, fmt.Errorf("store: take identify slot %d: %w", bucket, err)
	}
	return wait, nil
}

// IdentifySent restarts a bucket's identify spacing from now: the
// IDENTIFY of the slot taken was sent.
func (s *Store) IdentifySent(ctx context.Context, bucket int, spacing time.Duration) error {
	if _, err := s.wdb.ExecContext(ctx, `UPDATE cluster_identify SET next_at = now() + $2::interval WHERE bucket = $1`, bucket, pgInterval(spacing)); err != nil {
		return fmt.Errorf("store: identify sent: %w", s.dbErr(err))
	}
	return nil
}

// Notify wakes the other nodes' loops.
func (s *Store) Notify(ctx context.Context) error {
	if _, err := s.wdb.ExecContext(ctx, `SELECT pg_notify($1, 'wake')`, notifyCluster); err != nil {
		return fmt.Errorf("store: notify: %w", s.dbErr(err))
	}
	return nil
}

// Listen calls wake for every notification on the cluster and plugin
// channels until ctx ends. It holds one session-level connection of its
// own (LISTEN needs one: a pooler in transaction mode breaks it).
func (s *Store) Listen(ctx context.Context, wake func(topic string)) error {
	if err := s.needCluster("listen"); err != nil {
		return err
	}
	if s.dsn == "" {
		return errors.New("store: listen: no DSN kept")
	}
	l := pq.NewListener(s.dsn, 200*time.Millisecond, 5*time.Second, nil)
	defer l.Close()
	for _, ch := range []string{notifyCluster, notifyPlugins} {
		if err := l.Listen(ch); err != nil {
			return fmt.Errorf("store: listen %s: %w", ch, s.dbErr(err))
		}
	}
	ping := time.NewTicker(30 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case n := <-l.Notify:
			if n == nil { // reconnected: something may have been missed
				wake("")
				continue
			}
			wake(n.Channel)
		case <-ping.C:
			if err := l.Ping(); err != nil {
				return fmt.Errorf("store: listen: %w", s.dbErr(err))
			}
		}
	}
}

// Prune drops ledger rows older than age.
func (s *Store) Prune(ctx context.Context, age time.Duration) error {
	for _, q := range []string{
		// Not done and that old: its session cannot be resumed any more.
		`DELETE FROM cluster_events WHERE at < now() - $1::interval`,
		`DELETE FROM cluster_effects WHERE at < now() - $1::interval`,
		`DELETE FROM cluster_session_starts WHERE day < (now() AT TIME ZONE 'UTC')::date - 2`,
	} {
		if _, err := s.wdb.ExecContext(ctx, q, pgInterval(age)); err != nil {
			return fmt.Errorf("store: prune cluster ledger: %w", s.dbErr(err))
		}
	}
	return nil
}

// PluginChange is one plugin installed, replaced or removed on a node.
type PluginChange = cluster.PluginChange

// PluginChanges returns the plugin changes after version since, oldest
// first, and the latest version.
func (s *Store) PluginChanges(ctx context.Context, since int64) ([]cluster.PluginChange, int64, error) {
	if err := s.needCluster("plugin changes"); err != nil {
		return nil, since, err
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT plugin_id, version, removed FROM cluster_plugin_changes
		WHERE version > $1 ORDER BY version LIMIT 1000`, since)
	if err != nil {
		return nil, since, fmt.Errorf("store: plugin changes: %w", s.dbErr(err))
	}
	defer rows.Close()
	var out []cluster.PluginChange
	latest := since
	for rows.Next() {
		var c cluster.PluginChange
		if err := rows.Scan(&c.PluginID, &c.Version, &c.Removed); err != nil {
			return nil, since, fmt.Errorf("store: plugin changes: %w", s.dbErr(err))
		}
		latest = c.Version
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, since, fmt.Errorf("store: plugin changes: %w", s.dbErr(err))
	}
	return out, latest, nil
}

// PluginChangesHead is the latest plugin change version.
func (s *Store) PluginChangesHead(ctx context.Context) (int64, error) {
	if err := s.needCluster("plugin changes"); err != nil {
		return 0, err
	}
	var v int64
	if err := s.rdb.GetContext(ctx, &v, `SELECT coalesce(max(version), 0) FROM cluster_plugin_changes`); err != nil {
		return 0, fmt.Errorf("store: plugin changes: %w", s.dbErr(err))
	}
	return v, nil
}

// fenceTx applies the fence ctx carries (engine.Fence) to a KV write
// transaction: the lease must still be held with that generation (else
// cluster.ErrFenced), and a write already recorded for the event (a
// redelivery after a hand-over) is skipped.
func (s *Store) fenceTx(ctx context.Context, tx *sqlx.Tx) (skip bool, err error) {
	f, ok := engine.FenceFrom(ctx)
	if !ok {
		return false, nil
	}
	if s.d != dialectPostgres {
		return false, fmt.Errorf("fenced write: %w", cluster.ErrUnsupported)
	}
	// The lease row stays share-locked until the write commits.
	if _, err := tx.ExecContext(ctx, `SET LOCAL idle_in_transaction_session_timeout = '`+clusterIdleTimeout+`'`); err != nil {
		return false, s.dbErr(err)
	}
	var held int
	if err := tx.GetContext(ctx, &held, `SELECT count(*) FROM (SELECT 1 FROM cluster_leases WHERE `+fenceWhere+` FOR SHARE) x`,
		f.Shard, f.Node, f.Generation); err != nil {
		return false, s.dbErr(err)
	}
	if held == 0 {
		return false, fmt.Errorf("write for shard %d generation %d: %w", f.Shard, f.Generation, cluster.ErrFenced)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO cluster_effects (event_key, plugin_id, ordinal) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, f.Event, f.Plugin, f.Ordinal)
	if err != nil {
		return false, s.dbErr(err)
	}
	n, _ := res.RowsAffected()
	return n == 0, nil
}
