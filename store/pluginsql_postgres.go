package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/maidhq/maid/engine"
)

// Plugin SQL on PostgreSQL: one schema and one role per (plugin, server)
// scope, so a plugin's code for one server, and that server's dashboard
// bridge, never reach another server's rows. The role owns nothing but what
// the plugin creates there, has USAGE and CREATE on its own schema only,
// and no grant on maid's tables or other scopes' schemas. At most pgMaxPools
// scopes keep a connection pool; the least recently used idle ones are
// closed past that.
//
// Plugin statements run on connections that LOG IN AS the plugin role, not on
// maid's connections under SET ROLE: SET ROLE (and set_config('role', ...),
// which a plugin can call from inside a SQL function it creates) is checked
// against the session user, so on a maid session a plugin could switch back
// to maid in a single statement. Logged in as itself, the plugin's session
// user has no other role to become. Each role's random password is kept in
// plugin_sql_scopes, which only maid can read; roles are named with a
// per-database token because roles are cluster-wide.
//
// Before per-scope SQL, each plugin had one schema shared by all servers
// (plugin_sql_roles). It is not served any more, since the server its rows
// belong to cannot be known, and is dropped with the plugin.
//
// Each call is one transaction: SET LOCAL search_path / statement_timeout,
// the statement through the extended protocol (one statement, enforced by
// the server), a size check, COMMIT, then DISCARD ALL so no session state
// (GUCs, advisory locks, temporary tables, prepared statements) outlives it.

// pgMaxPools bounds the scopes with an open connection pool (each holds up
// to two connections).
const pgMaxPools = 32

type pgPluginSQL struct {
	s       *Store
	base    *url.URL // maid's DSN; plugin logins replace its user and password
	maxOpen int

	mu    sync.Mutex // guards pools, tick and each pool's users/used; held while creating roles and dropping
	pools map[sqliteKey]*pgPluginPool
	tick  uint64

	// frameLimit bounds each message a plugin session's server sends
	// (pgwire.go); set from each statement's limits.
	frameLimit atomic.Int64
	tlsConns   atomic.Int64 // plugin connections over TLS, not bounded
	// stall bounds each wait for a plugin session's server (pgwire.go):
	// the statement timeout plus pgStallGrace.
	stall atomic.Int64

	stuckMu sync.Mutex
	// stuck lists, by plugin, the backends maid gave up on after their
	// timeout: still running a call the server could not interrupt.
	stuck map[string][]stuckBackend
}

// stuckBackend is a plugin session maid dropped while its backend ran on.
type stuckBackend struct {
	pid  int
	role string
}

// pgStallGrace is how long past a statement's timeout maid waits for the
// server to answer the cancel before it drops the connection.
const pgStallGrace = 2 * time.Second

// pgMaxStuck bounds the backends a plugin may have running past their
// timeout (across all its servers); its statements are refused while it has
// that many, so one plugin cannot occupy more of the server's CPU and
// connections than this with calls PostgreSQL cannot interrupt.
const pgMaxStuck = 2

type pgPluginPool struct {
	db     *sql.DB
	role   string
	schema string
	lruUse // guarded by pgPluginSQL.mu
}

func newPGPluginSQL(s *Store, base *url.URL) *pgPluginSQL {
	return &pgPluginSQL{s: s, base: base, maxOpen: pgMaxPools, pools: map[sqliteKey]*pgPluginPool{}, stuck: map[string][]stuckBackend{}}
}

// pgName builds a role or schema name of at most 63 bytes (PostgreSQL's
// identifier limit): prefix+id, or for long ids a truncation plus a hash
// after "~", a character ids cannot contain, so names never collide.
func pgName(prefix, id string) string {
	if len(prefix)+len(id) <= 63 {
		return prefix + id
	}
	sum := sha256.Sum256([]byte(id))
	keep := 63 - len(prefix) - 1 - 12
	return prefix + id[:keep] + "~" + hex.EncodeToString(sum[:6])
}

// ensureRole creates the scope's role and schema if they do not exist and
// returns them with the role's password. Serialized across nodes by an
// advisory transaction lock on the plugin id.
func (p *pgPluginSQL) ensureRole(ctx context.Context, k sqliteKey) (role, schema, password string, err error) {
	err = p.s.writeTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext('maid:plugin-sql:' || $1))", k.plugin); err != nil {
			return p.s.dbErr(err)
		}
		err := tx.QueryRowxContext(ctx, "SELECT role_name, schema_name, password FROM plugin_sql_scopes WHERE plugin_id = $1 AND server_id = $2", k.plugin, k.server).Scan(&role, &schema, &password)
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return p.s.dbErr(err)
		}
		var n int
		if err := tx.GetContext(ctx, &n, "SELECT count(*) FROM plugins WHERE id = $1", k.plugin); err != nil {
			return p.s.dbErr(err)
		}
		if n == 0 {
			return fmt.Errorf("plugin %q: %w", k.plugin, engine.ErrNotFound)
		}
		var token string
		if err := tx.GetContext(ctx, &token, "SELECT value FROM maid_meta WHERE key = 'role_token'"); err != nil {
			return p.s.dbErr(err)
		}
		var pw [24]byte
		if _, err := rand.Read(pw[:]); err != nil {
			return err
		}
		// "." is in neither plugin nor server ids, so names of different
		// scopes (and the old per-plugin ones, without ".") never collide.
		name := k.plugin + "." + k.server
		role, schema, password = pgName("maid_"+token+"_", name), pgName("maid_p_", name), hex.EncodeToString(pw[:])
		r, sch := pqIdent(role), pqIdent(schema)
		for _, stmt := range []string{
			// NOINHERIT and no memberships: the role has exactly its grants.
			"CREATE ROLE " + r + " LOGIN NOINHERIT NOCREATEDB NOCREATEROLE NOREPLICATION CONNECTION LIMIT 8 PASSWORD " + pq.QuoteLiteral(password),
			// maid becomes a member (never the reverse) so it can drop what
			// the plugin owns and end its sessions.
			"GRANT " + r + " TO CURRENT_USER",
			"CREATE SCHEMA IF NOT EXISTS " + sch,
			"REVOKE ALL ON SCHEMA " + sch + " FROM PUBLIC",
			"GRANT USAGE, CREATE ON SCHEMA " + sch + " TO " + r,
			"ALTER ROLE " + r + " SET search_path TO " + sch,
		} {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("create plugin role: %w", p.s.dbErr(err))
			}
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO plugin_sql_scopes (plugin_id, server_id, role_name, schema_name, password) VALUES ($1, $2, $3, $4, $5)", k.plugin, k.server, role, schema, password)
		return p.s.dbErr(err)
	})
	return role, schema, password, err
}

// get returns the scope's pool, opening it if needed, with one more user
// (release it with put).
func (p *pgPluginSQL) get(ctx context.Context, k sqliteKey) (*pgPluginPool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pp := p.pools[k]; pp != nil {
		pp.users++
		return pp, nil
	}
	role, schema, password, err := p.ensureRole(ctx, k)
	if err != nil {
		return nil, err
	}
	u, t, _, err := pluginTLS(p.base)
	if err != nil {
		return nil, fmt.Errorf("open plugin connection: %w", err)
	}
	u.User = url.UserPassword(role, password)
	conn, err := pq.NewConnector(u.String())
	if err != nil {
		return nil, fmt.Errorf("open plugin connection: %w", err)
	}
	conn.Dialer(frameDialer{limit: &p.frameLimit, tls: &p.tlsConns, stall: &p.stall, start: t})
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(2)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(2 * time.Minute)
	db.SetConnMaxLifetime(30 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("log in as plugin role %s (pg_hba.conf must allow password logins for maid's plugin roles, see docs/operations.md): %w: %w", role, engine.ErrUnavailable, err)
	}
	pp := &pgPluginPool{db: db, role: role, schema: schema, lruUse: lruUse{users: 1}}
	p.pools[k] = pp
	for len(p.pools) > p.maxOpen {
		oldest, victim, ok := leastUsedIdle(p.pools)
		if !ok {
			break // all in use; more may stay open while that many run
		}
		delete(p.pools, oldest)
		victim.db.Close() // no user: nothing in flight to wait for
	}
	return pp, nil
}

// put releases a pool from get; the last user of an evicted pool closes it.
func (p *pgPluginSQL) put(k sqliteKey, pp *pgPluginPool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pp.release(&p.tick)
	if pp.users == 0 && p.pools[k] != pp {
		pp.db.Close() // closing twice is harmless
	}
}

// evict forgets pp if it is still the cached pool of k; its last user
// closes it (in put).
func (p *pgPluginSQL) evict(k sqliteKey, pp *pgPluginPool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pools[k] == pp {
		delete(p.pools, k)
	}
}

// isAuthErr reports a failed login (class 28: invalid authorization).
func isAuthErr(err error) bool {
	var pe *pq.Error
	return errors.As(err, &pe) && pe.Code.Class() == "28"
}

// schemaSizeSQL sums the on-disk size of the plugin's relations (it grows
// as soon as a statement writes, committed or not) and the catalog rows its
// objects own: a view's query tree, column defaults (and the stored value
// of a column added with one), CHECK constraints, index expressions,
// columns, types and enum labels all live in shared catalogs, and a 900 KB
// literal in CREATE VIEW grew pg_rewrite by that much per statement without
// counting against the size limit. Large catalog values are counted with
// pg_column_size of the column itself, which reads a toasted value's
// stored size without fetching it; the constants stand for each row's
// fixed part.
const schemaSizeSQL = `WITH n AS (SELECT oid FROM pg_namespace WHERE nspname = $1),
	c AS (SELECT c.oid, c.relkind FROM pg_class c, n WHERE c.relnamespace = n.oid),
	t AS (SELECT t.* FROM pg_type t, n WHERE t.typnamespace = n.oid)
	SELECT (COALESCE((SELECT sum(pg_total_relation_size(c.oid)) FROM c WHERE c.relkind IN ('r', 'm', 'S')), 0)
	+ (SELECT count(*) * 256 FROM c)
	+ COALESCE((SELECT sum(pg_column_size(r.ev_action) + COALESCE(pg_column_size(r.ev_qual), 0) + 64) FROM pg_rewrite r JOIN c ON c.oid = r.ev_class), 0)
	+ COALESCE((SELECT sum(pg_column_size(d.adbin) + 32) FROM pg_attrdef d JOIN c ON c.oid = d.adrelid), 0)
	+ COALESCE((SELECT sum(COALESCE(pg_column_size(a.attmissingval), 0) + 140) FROM pg_attribute a JOIN c ON c.oid = a.attrelid), 0)
	+ COALESCE((SELECT sum(COALESCE(pg_column_size(i.indexprs), 0) + COALESCE(pg_column_size(i.indpred), 0) + 64) FROM pg_index i JOIN c ON c.oid = i.indexrelid), 0)
	+ COALESCE((SELECT sum(COALESCE(pg_column_size(k.conbin), 0) + 128) FROM pg_constraint k, n WHERE k.connamespace = n.oid), 0)
	+ COALESCE((SELECT sum(COALESCE(pg_column_size(t.typdefaultbin), 0) + COALESCE(pg_column_size(t.typdefault), 0) + 128) FROM t), 0)
	+ COALESCE((SELECT sum(pg_column_size(e.*)) FROM pg_enum e JOIN t ON t.oid = e.enumtypid), 0)
	+ COALESCE((SELECT sum(pg_column_size(s.description) + 16) FROM pg_description s JOIN c ON c.oid = s.objoid), 0))::bigint`

func (p *pgPluginSQL) run(ctx context.Context, scope engine.Scope, query string, args []any, lim engine.SQLLimits, wantRows, checked bool) (engine.SQLResult, engine.ExecResult, error) {
	if err := checkSQLScope(scope); err != nil {
		return engine.SQLResult{}, engine.ExecResult{}, err
	}
	k := sqliteKey{scope.PluginID, scope.ServerID}
	sc := scanSQL(query, dialectPostgres)
	if checked {
		var err error
		if sc, err = checkPluginSQL(query, dialectPostgres); err != nil {
			return engine.SQLResult{}, engine.ExecResult{}, err
		}
	}
	query = rebindQmarks(query, sc)
	if lim.MaxBytes > 0 {
		// One row may be up to MaxBytes; every other message (errors,
		// notices, column descriptions) fits in the slack.
		p.frameLimit.Store(max(lim.MaxBytes, 64<<10) + 64<<10)
	}
	if lim.Timeout > 0 {
		p.stall.Store(int64(lim.Timeout + pgStallGrace))
	} else {
		p.stall.Store(0) // no timeout: no bound on waiting either
	}
	bargs, err := bindArgs(args)
	if err != nil {
		return engine.SQLResult{}, engine.ExecResult{}, err
	}
	if err := p.checkStuck(ctx, k.plugin); err != nil {
		return engine.SQLResult{}, engine.ExecResult{}, err
	}
	for attempt := 1; ; attempt++ {
		pp, err := p.get(ctx, k)
		if err != nil {
			return engine.SQLResult{}, engine.ExecResult{}, err
		}
		sres, eres, sent, err := p.runOnce(ctx, k, pp, query, bargs, lim, wantRows)
		p.put(k, pp)
		if err == nil || sent || attempt == 3 {
			return sres, eres, err
		}
		// Before the statement was sent, a dead connection (its session was
		// ended, e.g. by another node deleting the plugin) or a failed login
		// (the role was recreated with a new password) is retried on a
		// fresh connection; a failed login also drops the cached pool.
		switch {
		case isAuthErr(err):
			p.evict(k, pp)
		case errors.Is(err, driver.ErrBadConn) || isAdminShutdown(err):
		default:
			return sres, eres, err
		}
	}
}

// runOnce runs the statement on one connection; sent reports whether the
// statement itself reached the server (after which it is never retried).
func (p *pgPluginSQL) runOnce(ctx context.Context, k sqliteKey, pp *pgPluginPool, query string, bargs []any, lim engine.SQLLimits, wantRows bool) (sres engine.SQLResult, eres engine.ExecResult, sent bool, err error) {
	conn, err := pp.db.Conn(ctx)
	if err != nil {
		return sres, eres, false, fmt.Errorf("connect as plugin role: %w: %w", engine.ErrUnavailable, err)
	}
	bad := false
	defer func() {
		// Reset the session; if that fails, drop the connection rather than
		// hand its state to the next call.
		if bad {
			conn.Raw(func(any) error { return driver.ErrBadConn })
		} else if _, derr := conn.ExecContext(context.WithoutCancel(ctx), "DISCARD ALL"); derr != nil {
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}()
	fail := func(err error) (engine.SQLResult, engine.ExecResult, bool, error) {
		if errors.Is(err, driver.ErrBadConn) || isAdminShutdown(err) || isAuthErr(err) {
			bad = true
		}
		return engine.SQLResult{}, engine.ExecResult{}, sent, err
	}
	lctx, cancel := limitCtx(ctx, lim)
	defer cancel()
	// A read-only call runs in a READ ONLY transaction: no statement, nor
	// any function it calls, can write.
	tx, err := conn.BeginTx(lctx, &sql.TxOptions{ReadOnly: lim.ReadOnly})
	if err != nil {
		return fail(pgErr(ctx, lctx, err))
	}
	defer tx.Rollback()
	timeout := int64(0)
	if lim.Timeout > 0 {
		timeout = max(lim.Timeout.Milliseconds(), 1)
	}
	// work_mem bounds the server's memory per sort or hash before it spills
	// to temporary files (maid's own memory is bounded by pgwire.go).
	if _, err := tx.ExecContext(lctx, fmt.Sprintf("SET LOCAL search_path TO %s; SET LOCAL statement_timeout = %d; SET LOCAL standard_conforming_strings = on; SET LOCAL work_mem = '4MB'",
		pqIdent(pp.schema), timeout)); err != nil {
		return fail(pgErr(ctx, lctx, err))
	}
	// The backend's pid, to end it if maid has to give up on it.
	var pid int
	if err := tx.QueryRowContext(lctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		return fail(pgErr(ctx, lctx, err))
	}
	defer func() {
		var pe *pq.Error
		if err != nil && lctx.Err() != nil && !errors.As(err, &pe) {
			// The server did not answer the cancel in time and the
			// connection was dropped: the backend may run on.
			p.addStuck(k.plugin, stuckBackend{pid: pid, role: pp.role})
		}
	}()
	var before int64
	if lim.MaxDBBytes > 0 {
		if err := tx.QueryRowContext(lctx, schemaSizeSQL, pp.schema).Scan(&before); err != nil {
			return fail(pgErr(ctx, lctx, err))
		}
	}
	sent = true
	// Prepare forces the extended protocol even without arguments (lib/pq
	// sends argument-less queries as simple queries, which may hold several
	// statements); the server then refuses more than one statement.
	stmt, err := tx.PrepareContext(lctx, query)
	if err != nil {
		return fail(pgErr(ctx, lctx, err))
	}
	defer stmt.Close()
	if wantRows {
		rows, err := stmt.QueryContext(lctx, bargs...)
		if err != nil {
			return fail(pgErr(ctx, lctx, err))
		}
		sres, err = readRows(rows, lim)
		rows.Close()
		if err != nil {
			return fail(pgErr(ctx, lctx, err))
		}
	} else {
		r, err := stmt.ExecContext(lctx, bargs...)
		if err != nil {
			return fail(pgErr(ctx, lctx, err))
		}
		eres.RowsAffected, _ = r.RowsAffected()
	}
	if lim.MaxDBBytes > 0 {
		var after int64
		if err := tx.QueryRowContext(lctx, schemaSizeSQL, pp.schema).Scan(&after); err != nil {
			return fail(pgErr(ctx, lctx, err))
		}
		// Growth past the limit is refused (a SELECT may write through a
		// data-modifying WITH); statements that do not grow the schema pass
		// even when it is over, so a plugin can always delete.
		if after > lim.MaxDBBytes && after > before {
			return fail(fmt.Errorf("plugin database would be %d bytes, limit is %d: %w", after, lim.MaxDBBytes, engine.ErrSQLLimit))
		}
	}
	if err := tx.Commit(); err != nil {
		return fail(pgErr(ctx, lctx, err))
	}
	return sres, eres, true, nil
}

// addStuck records a backend maid gave up on and asks the server to end it
// (which takes effect when the backend next checks for interrupts).
func (p *pgPluginSQL) addStuck(plugin string, b stuckBackend) {
	p.stuckMu.Lock()
	p.stuck[plugin] = append(p.stuck[plugin], b)
	p.stuckMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := p.s.rdb.ExecContext(ctx, "SELECT pg_terminate_backend($1) FROM pg_stat_activity WHERE pid = $1 AND usename = $2", b.pid, b.role); err != nil {
		p.s.log.Warn("end a plugin's stuck sql session", "plugin", plugin, "pid", b.pid, "err", err)
	}
}

// checkStuck refuses a plugin's statement while pgMaxStuck of its backends
// still run past their timeout; backends that ended are forgotten.
func (p *pgPluginSQL) checkStuck(ctx context.Context, plugin string) error {
	p.stuckMu.Lock()
	list := append([]stuckBackend(nil), p.stuck[plugin]...)
	p.stuckMu.Unlock()
	if len(list) == 0 {
		return nil
	}
	pids := make([]int64, len(list))
	for i, b := range list {
		pids[i] = int64(b.pid)
	}
	rows, err := p.s.rdb.QueryContext(ctx, "SELECT pid, usename FROM pg_stat_activity WHERE pid = ANY($1)", pq.Array(pids))
	if err != nil {
		return p.s.dbErr(err)
	}
	alive := map[stuckBackend]bool{}
	for rows.Next() {
		var b stuckBackend
		var role sql.NullString
		if err := rows.Scan(&b.pid, &role); err != nil {
			rows.Close()
			return p.s.dbErr(err)
		}
		b.role = role.String
		alive[b] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return p.s.dbErr(err)
	}
	p.stuckMu.Lock()
	defer p.stuckMu.Unlock()
	var still []stuckBackend
	for _, b := range p.stuck[plugin] {
		if alive[b] {
			still = append(still, b)
		}
	}
	if len(still) == 0 {
		delete(p.stuck, plugin)
	} else {
		p.stuck[plugin] = still
	}
	if len(still) >= pgMaxStuck {
		return fmt.Errorf("%d of the plugin's statements still run on the database server past their timeout: %w", len(still), engine.ErrSQLLimit)
	}
	return nil
}

// isAdminShutdown reports a session ended by the server (57P01-57P03).
func isAdminShutdown(err error) bool {
	var pe *pq.Error
	return errors.As(err, &pe) && pe.Code.Class() == "57" && pe.Code != "57014"
}

// pgErr maps PostgreSQL failures onto engine sentinels.
func pgErr(ctx, lctx context.Context, err error) error {
	if errors.Is(err, engine.ErrSQLLimit) {
		return err
	}
	var pe *pq.Error
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "42501", pe.Code == "25006": // insufficient_privilege, read_only_sql_transaction
			return fmt.Errorf("%w: %w", engine.ErrSQLDenied, err)
		case pe.Code == "57014": // query_canceled: statement_timeout
			return fmt.Errorf("statement timed out: %w: %w", engine.ErrSQLLimit, err)
		case pe.Code.Class() == "53" || pe.Code.Class() == "54": // resources, program limits
			return fmt.Errorf("%w: %w", engine.ErrSQLLimit, err)
		case pe.Code.Class() == "08" || pe.Code.Class() == "57" || pe.Code.Class() == "28":
			return fmt.Errorf("%w: %w", engine.ErrUnavailable, err)
		}
		return fmt.Errorf("%w: %w", engine.ErrInvalid, err)
	}
	if ctx.Err() == nil && lctx.Err() != nil {
		return fmt.Errorf("statement timed out: %w: %w", engine.ErrSQLLimit, err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("%w: %w", engine.ErrUnavailable, err)
}

// dropInTx drops the plugin's schemas (with everything in them) and roles,
// of every server and the pre-scope shared one, in the DeletePlugin
// transaction so a failure leaves the plugin installed.
func (p *pgPluginSQL) dropInTx(ctx context.Context, tx *sqlx.Tx, id string) error {
	p.mu.Lock()
	for k, pp := range p.pools {
		if k.plugin == id {
			delete(p.pools, k)
			pp.db.Close()
		}
	}
	p.mu.Unlock()
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext('maid:plugin-sql:' || $1))", id); err != nil {
		return p.s.dbErr(err)
	}
	type named struct {
		Role   string `db:"role_name"`
		Schema string `db:"schema_name"`
	}
	var all []named
	if err := tx.SelectContext(ctx, &all, `SELECT role_name, schema_name FROM plugin_sql_roles WHERE plugin_id = $1
		UNION ALL SELECT role_name, schema_name FROM plugin_sql_scopes WHERE plugin_id = $1`, id); err != nil {
		return p.s.dbErr(err)
	}
	for _, n := range all {
		// Sessions of the role (other maid nodes' pools) would keep it alive.
		if _, err := tx.ExecContext(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()", n.Role); err != nil {
			return fmt.Errorf("end plugin sessions: %w", p.s.dbErr(err))
		}
		for _, stmt := range []string{
			"DROP SCHEMA IF EXISTS " + pqIdent(n.Schema) + " CASCADE",
			"DROP OWNED BY " + pqIdent(n.Role) + " CASCADE",
			"DROP ROLE IF EXISTS " + pqIdent(n.Role),
		} {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("drop plugin sql data: %w", p.s.dbErr(err))
			}
		}
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM plugin_sql_roles WHERE plugin_id = $1", id); err != nil {
		return p.s.dbErr(err)
	}
	_, err := tx.ExecContext(ctx, "DELETE FROM plugin_sql_scopes WHERE plugin_id = $1", id)
	return p.s.dbErr(err)
}

func (p *pgPluginSQL) dropAfter(string) error { return nil }

func (p *pgPluginSQL) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for k, pp := range p.pools {
		errs = append(errs, pp.db.Close())
		delete(p.pools, k)
	}
	return errors.Join(errs...)
}
