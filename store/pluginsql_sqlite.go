package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jmoiron/sqlx"
	"modernc.org/sqlite"

	"github.com/maidhq/maid/engine"
)

// Plugin SQL on SQLite: each (plugin, server) scope has its own database
// file, <dir>/<plugin_id>/<server_id>.db, opened lazily on one connection,
// so a plugin's code for one server, and that server's dashboard bridge,
// never see another server's rows. At most maxOpen files are open at once;
// the least recently used idle ones are closed past that (there can be
// thousands of servers). Every connection gets an SQLite authorizer
// (installed by the connector on each physical connect, so a reconnect can
// never come back without it) that denies ATTACH/DETACH, PRAGMA, temporary
// objects, transaction control, foreign virtual table modules and dangerous
// functions. The file size is bounded with PRAGMA max_page_count, set by
// maid itself under a flag the authorizer checks.
//
// Before the plugin SQL of each (plugin, server) scope, one file per plugin,
// <dir>/<plugin_id>.db, was shared by every server. It is not served any
// more (the server its rows belong to cannot be known) and is removed with
// the plugin.

// sqliteMaxOpen bounds the open per-scope database handles.
const sqliteMaxOpen = 64

// SQLite run-time limit ids (sqlite3_limit).
const (
	sqliteLimitLength = 0 // SQLITE_LIMIT_LENGTH: longest string, blob or row
)

type sqliteKey struct{ plugin, server string }

// lruUse is what both plugin SQL caches (a handle per plugin and server,
// at most maxOpen idle ones) keep per handle to close the least recently
// used idle one first. The cache's mutex guards it.
type lruUse struct {
	users int    // runs holding the handle
	used  uint64 // the cache's tick at the last release
}

func (u *lruUse) lru() *lruUse { return u }

// release ends one run's hold and stamps the handle with the next tick.
func (u *lruUse) release(tick *uint64) {
	u.users--
	*tick++
	u.used = *tick
}

// leastUsedIdle returns the least recently used handle of m that no run
// holds; ok is false when every handle is held.
func leastUsedIdle[H interface{ lru() *lruUse }](m map[sqliteKey]H) (k sqliteKey, h H, ok bool) {
	for key, c := range m {
		if u := c.lru(); u.users == 0 && (!ok || u.used < h.lru().used) {
			k, h, ok = key, c, true
		}
	}
	return k, h, ok
}

type sqlitePluginSQL struct {
	s       *Store
	dir     string
	maxOpen int

	mu   sync.Mutex // guards dbs, tick and each handle's users/used; held while opening and dropping
	dbs  map[sqliteKey]*sqlitePluginDB
	tick uint64
}

type sqlitePluginDB struct {
	sem      chan struct{} // one statement at a time: one connection, and the trusted flag
	db       *sql.DB
	trusted  atomic.Bool // maid's own PRAGMAs are running
	pageSize int64
	maxPages int64 // applied max_page_count, 0: not yet
	closed   bool  // guarded by sem
	lruUse         // guarded by sqlitePluginSQL.mu
}

func newSQLitePluginSQL(s *Store, dir string) *sqlitePluginSQL {
	return &sqlitePluginSQL{s: s, dir: dir, maxOpen: sqliteMaxOpen, dbs: map[sqliteKey]*sqlitePluginDB{}}
}

func (p *sqlitePluginSQL) path(k sqliteKey) string {
	return filepath.Join(p.dir, k.plugin, k.server+".db")
}

// legacyPath is the pre-scope database shared by all servers.
func (p *sqlitePluginSQL) legacyPath(id string) string { return filepath.Join(p.dir, id+".db") }

// authorizingConnector installs the plugin authorizer on every connection.
type authorizingConnector struct {
	driver.Connector
	auth sqlite.AuthorizerFn
}

func (c authorizingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	reg, ok := conn.(sqlite.AuthorizerRegisterer)
	if !ok {
		conn.Close()
		return nil, errors.New("sqlite driver does not support an authorizer")
	}
	if err := reg.RegisterAuthorizer(c.auth); err != nil {
		conn.Close()
		return nil, fmt.Errorf("install authorizer: %w", err)
	}
	return conn, nil
}

// Virtual table modules plugins may use.
var sqliteModules = map[string]bool{"fts5": true, "fts4": true, "fts3": true, "rtree": true}

// sqliteAllowedFuncs are the only SQL functions plugin statements may call.
// An allow-list, not a deny-list: SQLite runs inside maid and checks its
// interrupt only between opcodes, so a function whose one call costs more
// than linear time, or builds a value far larger than its arguments before
// SQLITE_LIMIT_LENGTH is checked, holds maid's CPU or memory past every
// limit. Deny-lists missed members of that class each time they were
// attacked (ltrim/instr/replace, then json_pretty, unhex(X, Y), the JSON
// aggregates, json_patch, geopoly, rtree debugging). Every function listed
// here costs linear time in its arguments and returns at most their size
// (trim, instr and replace are maid's linear versions, sqlfuncs_sqlite.go);
// the number of arguments is bounded by sqliteFunctionArgMax, so the
// variadic ones (concat, json_array, printf) build at most that many
// values. A function not listed is refused with "not authorized".
var sqliteAllowedFuncs = setOf(
	// core scalars
	"abs", "changes", "char", "coalesce", "concat", "concat_ws", "format", "glob", "hex", "ifnull", "iif", "if",
	"instr", "last_insert_rowid", "length", "like", "likelihood", "likely", "lower", "ltrim", "max", "min",
	"nullif", "octet_length", "printf", "quote", "random", "randomblob", "replace", "round", "rtrim", "sign",
	"soundex", "sqlite_version", "substr", "substring", "total_changes", "trim", "typeof", "unicode",
	"unlikely", "upper", "zeroblob",
	// date and time
	"date", "time", "datetime", "julianday", "strftime", "unixepoch", "timediff",
	"current_date", "current_time", "current_timestamp",
	// aggregates (group_concat and string_agg check SQLITE_LIMIT_LENGTH as they grow)
	"avg", "count", "group_concat", "string_agg", "sum", "total",
	// window functions
	"row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead",
	"first_value", "last_value", "nth_value",
	// math
	"acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "ceil", "ceiling", "cos", "cosh", "degrees",
	"exp", "floor", "ln", "log", "log10", "log2", "mod", "pi", "pow", "power", "radians", "sin", "sinh",
	"sqrt", "tan", "tanh", "trunc",
	// JSON, without json_pretty (its indentation multiplies its input),
	// json_patch (superlinear) and the aggregates (unbounded while growing)
	"json", "jsonb", "json_array", "jsonb_array", "json_array_length", "json_error_position", "json_extract",
	"jsonb_extract", "json_insert", "jsonb_insert", "json_object", "jsonb_object", "json_quote", "json_remove",
	"jsonb_remove", "json_replace", "jsonb_replace", "json_set", "jsonb_set", "json_type", "json_valid",
	"json_each", "json_tree", "->", "->>",
	// full-text search auxiliaries
	"bm25", "highlight", "snippet",
)

// sqliteFunctionArgMax is SQLITE_LIMIT_FUNCTION_ARG on plugin connections:
// enough for json_object with eight pairs, few enough that a variadic
// function of maximal values stays within tens of MiB.
const sqliteFunctionArgMax = 16

// sqliteLimitFunctionArg is SQLITE_LIMIT_FUNCTION_ARG.
const sqliteLimitFunctionArg = 6

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

func (pdb *sqlitePluginDB) authorize(action sqlite.AuthorizerActionCode, arg1, arg2, dbName, _ string) sqlite.AuthorizerReturnCode {
	if pdb.trusted.Load() {
		return sqlite.AuthorizerOK
	}
	switch action {
	case sqlite.AuthAttach, sqlite.AuthDetach, sqlite.AuthPragma, sqlite.AuthTransaction, sqlite.AuthSavepoint,
		sqlite.AuthCreateTempIndex, sqlite.AuthCreateTempTable, sqlite.AuthCreateTempTrigger, sqlite.AuthCreateTempView,
		sqlite.AuthDropTempIndex, sqlite.AuthDropTempTable, sqlite.AuthDropTempTrigger, sqlite.AuthDropTempView:
		return sqlite.AuthorizerDeny
	case sqlite.AuthCreateVTable, sqlite.AuthDropVTable:
		if !sqliteModules[strings.ToLower(arg2)] {
			return sqlite.AuthorizerDeny
		}
	case sqlite.AuthFunction:
		if !sqliteAllowedFuncs[strings.ToLower(arg2)] {
			return sqlite.AuthorizerDeny
		}
	}
	// Only the plugin's own database ("main"); "temp" is denied above for
	// creation, and nothing else can be attached.
	if dbName != "" && dbName != "main" && dbName != "temp" {
		return sqlite.AuthorizerDeny
	}
	return sqlite.AuthorizerOK
}

// get returns the scope's open database, opening it if needed, with one
// more user (release it with put); the plugin must be installed.
func (p *sqlitePluginSQL) get(ctx context.Context, k sqliteKey) (*sqlitePluginDB, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pdb := p.dbs[k]; pdb != nil {
		pdb.users++
		return pdb, nil
	}
	var n int
	if err := p.s.rdb.GetContext(ctx, &n, "SELECT count(*) FROM plugins WHERE id = ?", k.plugin); err != nil {
		return nil, p.s.dbErr(err)
	}
	if n == 0 {
		return nil, fmt.Errorf("plugin %q: %w", k.plugin, engine.ErrNotFound)
	}
	if err := os.MkdirAll(filepath.Dir(p.path(k)), 0o750); err != nil {
		return nil, fmt.Errorf("create plugin sql directory: %w", err)
	}
	// DELETE journal: the rollback journal is bounded by the database size,
	// unlike a WAL, so max_page_count bounds the disk use. A small page
	// cache: there can be maxOpen of these.
	// pluginDriver: the superlinear built-ins replaced (sqlfuncs_sqlite.go).
	base := pluginConnector{dsn: p.path(k) + "?_busy_timeout=5000&_synchronous=NORMAL&_defensive=1&_foreign_keys=1&_pragma=cache_size(-1024)"}
	pdb := &sqlitePluginDB{sem: make(chan struct{}, 1)}
	db := sql.OpenDB(authorizingConnector{Connector: base, auth: pdb.authorize})
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	pdb.db = db
	pdb.trusted.Store(true)
	err := db.QueryRowContext(ctx, "PRAGMA page_size").Scan(&pdb.pageSize)
	pdb.trusted.Store(false)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open plugin database: %w", err)
	}
	p.dbs[k] = pdb
	pdb.users++
	p.evictIdle()
	return pdb, nil
}

// put releases a handle from get.
func (p *sqlitePluginSQL) put(pdb *sqlitePluginDB) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pdb.release(&p.tick)
}

// evictIdle closes the least recently used handles nobody holds until at
// most maxOpen are open; handles in use are never closed under a statement
// (so more may stay open while that many run at once). p.mu is held.
func (p *sqlitePluginSQL) evictIdle() {
	for len(p.dbs) > p.maxOpen {
		oldest, victim, ok := leastUsedIdle(p.dbs)
		if !ok {
			return
		}
		delete(p.dbs, oldest)
		victim.closed = true // no user: nobody holds or waits for its sem
		victim.db.Close()
	}
}

// openCount reports the open handles (tests).
func (p *sqlitePluginSQL) openCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.dbs)
}

func checkSQLScope(sc engine.Scope) error {
	if err := checkPluginID(sc.PluginID); err != nil {
		return err
	}
	if !serverIDRe.MatchString(sc.ServerID) {
		return fmt.Errorf("server_id: must be 1-64 letters, digits, '-' or '_', got %q: %w", sc.ServerID, engine.ErrInvalid)
	}
	return nil
}

func (p *sqlitePluginSQL) run(ctx context.Context, sc engine.Scope, query string, args []any, lim engine.SQLLimits, wantRows, checked bool) (engine.SQLResult, engine.ExecResult, error) {
	var sres engine.SQLResult
	var eres engine.ExecResult
	if err := checkSQLScope(sc); err != nil {
		return sres, eres, err
	}
	if checked {
		if _, err := checkPluginSQL(query, dialectSQLite); err != nil {
			return sres, eres, err
		}
	}
	bargs, err := bindArgs(args)
	if err != nil {
		return sres, eres, err
	}
	pdb, err := p.get(ctx, sqliteKey{sc.PluginID, sc.ServerID})
	if err != nil {
		return sres, eres, err
	}
	defer p.put(pdb)
	select {
	case pdb.sem <- struct{}{}:
	case <-ctx.Done():
		return sres, eres, ctx.Err()
	}
	defer func() { <-pdb.sem }()
	if pdb.closed {
		return sres, eres, fmt.Errorf("plugin %q: %w", sc.PluginID, engine.ErrNotFound)
	}
	if err := pdb.applyMaxSize(ctx, lim.MaxDBBytes); err != nil {
		return sres, eres, err
	}
	lctx, cancel := limitCtx(ctx, lim)
	defer cancel()
	conn, err := pdb.db.Conn(lctx)
	if err != nil {
		return sres, eres, sqliteErr(ctx, lctx, err)
	}
	defer conn.Close()
	if err := pdb.setQueryOnly(lctx, conn, lim.ReadOnly); err != nil {
		return sres, eres, err
	}
	// Bound every value inside SQLite, before the driver copies it into Go
	// memory: a row of n columns holds at most MaxBytes/n bytes per value,
	// so no single row, and no string SQLite builds (zeroblob, randomblob,
	// printf, replace, group_concat, ...), passes MaxBytes.
	if lim.MaxBytes > 0 {
		cols := 1
		if wantRows {
			if cols, err = columnCount(conn, query); err != nil {
				return sres, eres, sqliteErr(ctx, lctx, err)
			}
		}
		n := int(max(lim.MaxBytes/int64(max(cols, 1)), 1024))
		if _, err := sqlite.Limit(conn, sqliteLimitLength, n); err != nil {
			return sres, eres, fmt.Errorf("set value size limit: %w", err)
		}
		sqliteFuncMaxLen.Store(int64(n))
	}
	if _, err := sqlite.Limit(conn, sqliteLimitFunctionArg, sqliteFunctionArgMax); err != nil {
		return sres, eres, fmt.Errorf("set function argument limit: %w", err)
	}
	// LIKE and GLOB cost up to value length x pattern length in one call,
	// which the interrupt cannot stop (sqlfuncs_sqlite.go).
	if _, err := sqlite.Limit(conn, sqliteLimitLikePattern, sqliteLikePatternMax); err != nil {
		return sres, eres, fmt.Errorf("set like pattern limit: %w", err)
	}
	if wantRows {
		rows, err := conn.QueryContext(lctx, query, bargs...)
		if err != nil {
			return sres, eres, sqliteErr(ctx, lctx, err)
		}
		sres, err = readRows(rows, lim)
		rows.Close()
		if err != nil {
			return engine.SQLResult{}, eres, sqliteErr(ctx, lctx, err)
		}
		return sres, eres, nil
	}
	r, err := conn.ExecContext(lctx, query, bargs...)
	if err != nil {
		return sres, eres, sqliteErr(ctx, lctx, err)
	}
	eres.RowsAffected, _ = r.RowsAffected()
	eres.LastInsertID, _ = r.LastInsertId()
	return sres, eres, nil
}

// columnCount prepares query without running it and returns its number of
// result columns.
func columnCount(conn *sql.Conn, query string) (int, error) {
	n := 0
	err := conn.Raw(func(dc any) error {
		ci, ok := dc.(interface {
			ColumnInfo(query string) ([]sqlite.ColumnInfo, error)
		})
		if !ok {
			return fmt.Errorf("sqlite driver cannot describe columns (%T)", dc)
		}
		info, err := ci.ColumnInfo(query)
		n = len(info)
		return err
	})
	return n, err
}

// setQueryOnly sets PRAGMA query_only on the connection the statement runs
// on, every time (not cached, so a reconnect cannot come back writable): a
// read-only call cannot change the database by any statement (INSERT ...
// RETURNING, a trigger, DDL). Called under sem.
func (pdb *sqlitePluginDB) setQueryOnly(ctx context.Context, conn *sql.Conn, on bool) error {
	pdb.trusted.Store(true)
	_, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA query_only = %t", on))
	pdb.trusted.Store(false)
	if err != nil {
		return fmt.Errorf("set read-only mode: %w", err)
	}
	return nil
}

// applyMaxSize sets max_page_count from the byte limit when it changes.
// SQLite never lowers it below the current size; writes that would grow
// past it fail with SQLITE_FULL.
func (pdb *sqlitePluginDB) applyMaxSize(ctx context.Context, maxBytes int64) error {
	pages := int64(0)
	if maxBytes > 0 {
		pages = max(maxBytes/pdb.pageSize, 1)
	} else {
		pages = 1073741823 // SQLite's default maximum
	}
	if pages == pdb.maxPages {
		return nil
	}
	pdb.trusted.Store(true)
	_, err := pdb.db.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages))
	pdb.trusted.Store(false)
	if err != nil {
		return fmt.Errorf("set database size limit: %w", err)
	}
	pdb.maxPages = pages
	return nil
}

// sqliteErr maps SQLite failures onto engine sentinels: authorizer denials
// are ErrSQLDenied, the timeout, a full database and oversize values
// ErrSQLLimit, anything else the plugin's own mistake (ErrInvalid).
func sqliteErr(ctx, lctx context.Context, err error) error {
	if errors.Is(err, engine.ErrSQLLimit) {
		return err
	}
	if ctx.Err() == nil && lctx.Err() != nil {
		return fmt.Errorf("statement timed out: %w: %w", engine.ErrSQLLimit, err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		// A denied function is reported as SQLITE_ERROR "not authorized to
		// use function", other denials as SQLITE_AUTH.
		if strings.Contains(se.Error(), "not authorized") {
			return fmt.Errorf("%w: %w", engine.ErrSQLDenied, err)
		}
		// SQLITE_LIMIT_LIKE_PATTERN_LENGTH, and the overridden functions'
		// work bound (sqlfuncs_sqlite.go), are reported as SQLITE_ERROR.
		if strings.Contains(se.Error(), "pattern too complex") || strings.Contains(se.Error(), errSQLFuncWork.Error()) {
			return fmt.Errorf("%w: %w", engine.ErrSQLLimit, err)
		}
		switch se.Code() & 0xff {
		case 23, 8: // SQLITE_AUTH, SQLITE_READONLY (a read-only call wrote)
			return fmt.Errorf("%w: %w", engine.ErrSQLDenied, err)
		case 13, 18: // SQLITE_FULL, SQLITE_TOOBIG
			return fmt.Errorf("%w: %w", engine.ErrSQLLimit, err)
		case 9: // SQLITE_INTERRUPT
			return fmt.Errorf("statement interrupted: %w: %w", engine.ErrSQLLimit, err)
		case 5, 6, 10, 11, 14, 26: // BUSY, LOCKED, IOERR, CORRUPT, CANTOPEN, NOTADB
			return fmt.Errorf("%w: %w", engine.ErrUnavailable, err)
		}
	}
	return fmt.Errorf("%w: %w", engine.ErrInvalid, err)
}

func (p *sqlitePluginSQL) dropInTx(context.Context, *sqlx.Tx, string) error { return nil }

// dropAfter closes the plugin's databases of every server and removes their
// files, and the pre-scope shared file.
func (p *sqlitePluginSQL) dropAfter(id string) error {
	if checkPluginID(id) != nil {
		return nil // no such file can exist
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, pdb := range p.dbs {
		if k.plugin != id {
			continue
		}
		delete(p.dbs, k)
		pdb.sem <- struct{}{} // wait for the statement in flight
		pdb.closed = true
		pdb.db.Close()
		<-pdb.sem
	}
	var errs []error
	if err := os.RemoveAll(filepath.Join(p.dir, id)); err != nil {
		errs = append(errs, err)
	}
	for _, suffix := range []string{"", "-journal", "-wal", "-shm"} {
		if err := os.Remove(p.legacyPath(id) + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove plugin database: %w", err)
	}
	return nil
}

func (p *sqlitePluginSQL) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for k, pdb := range p.dbs {
		pdb.sem <- struct{}{}
		pdb.closed = true
		errs = append(errs, pdb.db.Close())
		<-pdb.sem
		delete(p.dbs, k)
	}
	return errors.Join(errs...)
}
