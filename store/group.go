package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/jmoiron/sqlx"

	"github.com/maidhq/maid/engine"
)

// maxGroup bounds the writes committed in one transaction.
const maxGroup = 64

// kvWrite is one KVSet/KVSetMany waiting for its group's commit.
type kvWrite struct {
	ctx      context.Context
	sc       engine.Scope
	keys     []string // sorted
	values   map[string]json.RawMessage
	newBytes int64
	q        engine.Quota

	err  error
	wake chan bool // true: lead the next group; false: committed (or failed), see err
}

// kvCommitter commits KV writes in groups: a writer that finds no commit in
// progress commits its own write at once (no hand-off to another
// goroutine); writers arriving meanwhile queue, and when the commit ends
// the first of them leads the next group with all the others. Each write
// runs in its own savepoint, so one that fails (a quota, a fence) is
// rolled back alone and the rest of its group commits. No writer is told
// its write succeeded before the group's COMMIT returned: an acknowledged
// write is as durable as with a transaction of its own (RATIONALE.md).
type kvCommitter struct {
	s     *Store
	mu    sync.Mutex
	busy  bool // a group is being committed
	queue []*kvWrite
}

func (c *kvCommitter) submit(w *kvWrite) error {
	c.mu.Lock()
	if c.busy {
		w.wake = make(chan bool, 1)
		c.queue = append(c.queue, w)
		c.mu.Unlock()
		var lead bool
		select {
		case lead = <-w.wake:
		case <-w.ctx.Done():
			c.mu.Lock()
			if i := slices.Index(c.queue, w); i >= 0 {
				// Still waiting: leave without a trace.
				c.queue = slices.Delete(c.queue, i, i+1)
				c.mu.Unlock()
				return fmt.Errorf("store: kv write: %w", w.ctx.Err())
			}
			c.mu.Unlock()
			lead = <-w.wake // taken into a group: its outcome is coming
		}
		if !lead {
			return w.err
		}
	} else {
		c.busy = true
		c.mu.Unlock()
	}
	// w leads a group: itself and up to maxGroup-1 writers waiting.
	c.mu.Lock()
	n := min(len(c.queue), maxGroup-1)
	group := make([]*kvWrite, 0, n+1)
	group = append(group, w)
	group = append(group, c.queue[:n]...)
	c.queue = slices.Delete(c.queue, 0, n)
	c.mu.Unlock()

	c.s.commitGroup(group)

	c.mu.Lock()
	if len(c.queue) > 0 {
		next := c.queue[0]
		c.queue = slices.Delete(c.queue, 0, 1)
		next.wake <- true
	} else {
		c.busy = false
	}
	c.mu.Unlock()
	for _, o := range group[1:] {
		o.wake <- false
	}
	return w.err
}

// commitGroup applies the writes of group in one transaction and sets each
// one's err.
func (s *Store) commitGroup(group []*kvWrite) {
	// Scopes in one order in every group, so two groups (on two maid nodes
	// sharing PostgreSQL) lock counter rows in the same order and cannot
	// deadlock each other.
	ordered := slices.Clone(group)
	slices.SortStableFunc(ordered, func(a, b *kvWrite) int {
		if a.sc.PluginID != b.sc.PluginID {
			if a.sc.PluginID < b.sc.PluginID {
				return -1
			}
			return 1
		}
		switch {
		case a.sc.ServerID < b.sc.ServerID:
			return -1
		case a.sc.ServerID > b.sc.ServerID:
			return 1
		}
		return 0
	})
	failAll := func(err error) {
		for _, w := range group {
			if w.err == nil {
				w.err = err
			}
		}
	}
	// The transaction belongs to the group, not to its leader: the leader's
	// ctx ending must not roll back the others' writes.
	tx, err := s.wdb.BeginTxx(context.WithoutCancel(group[0].ctx), nil)
	if err != nil {
		failAll(s.dbErr(err))
		return
	}
	if s.d == dialectPostgres {
		// Statements run uncancelled (stmtCtx), so the server bounds them:
		// a row another node holds stalls the group at most this long, and
		// the write that waited fails alone (its savepoint).
		if _, err := tx.ExecContext(context.WithoutCancel(group[0].ctx), pgGroupTimeouts); err != nil {
			_ = tx.Rollback()
			failAll(s.dbErr(err))
			return
		}
	}
	single := len(ordered) == 1
	applied := 0
	for _, w := range ordered {
		if err := w.ctx.Err(); err != nil {
			w.err = err
			continue
		}
		ctx := s.stmtCtx(w.ctx)
		if single {
			// Alone in its transaction: no savepoint needed.
			if w.err = s.kvSetIn(ctx, tx, w); w.err == nil {
				applied++
			}
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT kv_write"); err != nil {
			_ = tx.Rollback()
			failAll(s.dbErr(err))
			return
		}
		if w.err = s.kvSetIn(ctx, tx, w); w.err != nil {
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT kv_write"); err != nil {
				_ = tx.Rollback()
				failAll(s.dbErr(err))
				return
			}
		} else {
			applied++
		}
		if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT kv_write"); err != nil {
			_ = tx.Rollback()
			failAll(s.dbErr(err))
			return
		}
	}
	if applied == 0 {
		_ = tx.Rollback()
		return
	}
	if err := tx.Commit(); err != nil {
		err = s.dbErr(err)
		for _, w := range group {
			if w.err == nil {
				w.err = err
			}
		}
	}
}

// stmtCtx is the context the statements of one write run under: the
// writer's, uncancelled. A cancel would fail the other writes of the group:
// on SQLite it interrupts the connection, which rolls back the whole
// transaction; lib/pq marks a connection whose statement was cancelled as
// bad, so the transaction is lost there too (found by the issue 16 attack:
// a plugin aiming a kv.set at its own call deadline failed other plugins'
// writes). A writer's ctx is checked before its write only; the database
// bounds each statement instead (busy_timeout on SQLite, pgGroupTimeouts
// on PostgreSQL). Values (the cluster's fence) are kept.
func (s *Store) stmtCtx(ctx context.Context) context.Context {
	return context.WithoutCancel(ctx)
}

// pgGroupTimeouts bounds a group's statements on the server, since they run
// uncancelled: a lock wait (a row another node holds) and any statement.
const pgGroupTimeouts = "SET LOCAL lock_timeout = '5s'; SET LOCAL statement_timeout = '15s'"

// stmts caches prepared statements of the write path: on SQLite a
// statement's parse cost more than its execution (about half of a KV
// write's time). Prepared on the writer pool once, used in a transaction
// through Tx.Stmt, which reuses the statement prepared on the
// transaction's connection.
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sqlx.Stmt
}

// writeStmts are the statements prepared at Open (a prepare inside a
// transaction would wait for the transaction's own connection on SQLite,
// whose writer pool has one).
var writeStmts = []string{kvInsertSQL, kvUsageLockSQL, kvUsageSetSQL, kvSizeSQL}

const (
	kvInsertSQL = `INSERT INTO kv (plugin_id, server_id, key, value) VALUES (?, ?, ?, ?)
				ON CONFLICT (plugin_id, server_id, key) DO UPDATE SET value = excluded.value`
	kvUsageLockSQL = `INSERT INTO kv_usage (plugin_id, server_id, key_count, byte_count) VALUES (?, ?, 0, 0)
		ON CONFLICT (plugin_id, server_id) DO UPDATE SET key_count = kv_usage.key_count
		RETURNING key_count, byte_count`
	kvUsageSetSQL = "UPDATE kv_usage SET key_count = ?, byte_count = ? WHERE plugin_id = ? AND server_id = ?"
	kvSizeSQL     = "SELECT length(value) FROM kv WHERE plugin_id = ? AND server_id = ? AND key = ?"
)

// prepare prepares writeStmts on the writer pool.
func (s *Store) prepare(ctx context.Context) error {
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	s.stmts.m = make(map[string]*sqlx.Stmt, len(writeStmts))
	for _, q := range writeStmts {
		st, err := s.wdb.PreparexContext(ctx, s.q(q))
		if err != nil {
			return fmt.Errorf("store: prepare: %w", s.dbErr(err))
		}
		s.stmts.m[q] = st
	}
	return nil
}

// txStmt returns query (one of writeStmts, with ? placeholders) for use
// in tx.
func (s *Store) txStmt(ctx context.Context, tx *sqlx.Tx, query string) (*sqlx.Stmt, error) {
	s.stmts.mu.Lock()
	st := s.stmts.m[query]
	s.stmts.mu.Unlock()
	if st == nil {
		// Not one of writeStmts: prepared for this transaction only.
		st, err := tx.PreparexContext(ctx, s.q(query))
		return st, s.dbErr(err)
	}
	return tx.StmtxContext(ctx, st), nil
}

func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var first error
	for q, st := range c.m {
		if err := st.Close(); err != nil && first == nil {
			first = err
		}
		delete(c.m, q)
	}
	return first
}
