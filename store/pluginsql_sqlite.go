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

// Plugin SQL on SQLite: each plugin has its own database file,
// <dir>/<plugin_id>.db, opened lazily on one connection. Every connection
// gets an SQLite authorizer (installed by the connector on each physical
// connect, so a reconnect can never come back without it) that denies
// ATTACH/DETACH, PRAGMA, temporary objects, transaction control, foreign
// virtual table modules and dangerous functions. The file size is bounded
// with PRAGMA max_page_count, set by maid itself under a flag the authorizer
// checks.

type sqlitePluginSQL struct {
	s   *Store
	dir string

	mu  sync.Mutex // guards dbs; held while opening and dropping
	dbs map[string]*sqlitePluginDB
}

type sqlitePluginDB struct {
	sem      chan struct{} // one statement at a time: one connection, and the trusted flag
	db       *sql.DB
	trusted  atomic.Bool // maid's own PRAGMAs are running
	pageSize int64
	maxPages int64 // applied max_page_count, 0: not yet
	closed   bool  // guarded by sem
}

func newSQLitePluginSQL(s *Store, dir string) *sqlitePluginSQL {
	return &sqlitePluginSQL{s: s, dir: dir, dbs: map[string]*sqlitePluginDB{}}
}

func (p *sqlitePluginSQL) path(id string) string { return filepath.Join(p.dir, id+".db") }

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

// Functions denied even though the build may not have them.
var sqliteDeniedFuncs = map[string]bool{"load_extension": true, "fts3_tokenizer": true, "readfile": true, "writefile": true, "edit": true}

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
		if sqliteDeniedFuncs[strings.ToLower(arg2)] {
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

// get returns the plugin's open database, opening it if needed; the plugin
// must be installed.
func (p *sqlitePluginSQL) get(ctx context.Context, id string) (*sqlitePluginDB, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pdb := p.dbs[id]; pdb != nil {
		return pdb, nil
	}
	var n int
	if err := p.s.rdb.GetContext(ctx, &n, "SELECT count(*) FROM plugins WHERE id = ?", id); err != nil {
		return nil, p.s.dbErr(err)
	}
	if n == 0 {
		return nil, fmt.Errorf("plugin %q: %w", id, engine.ErrNotFound)
	}
	if err := os.MkdirAll(p.dir, 0o750); err != nil {
		return nil, fmt.Errorf("create plugin sql directory: %w", err)
	}
	// DELETE journal: the rollback journal is bounded by the database size,
	// unlike a WAL, so max_page_count bounds the disk use.
	base, err := sqlite.NewConnector(p.path(id) + "?_busy_timeout=5000&_synchronous=NORMAL&_defensive=1&_foreign_keys=1")
	if err != nil {
		return nil, fmt.Errorf("open plugin database: %w", err)
	}
	pdb := &sqlitePluginDB{sem: make(chan struct{}, 1)}
	db := sql.OpenDB(authorizingConnector{Connector: base, auth: pdb.authorize})
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	pdb.db = db
	pdb.trusted.Store(true)
	err = db.QueryRowContext(ctx, "PRAGMA page_size").Scan(&pdb.pageSize)
	pdb.trusted.Store(false)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open plugin database: %w", err)
	}
	p.dbs[id] = pdb
	return pdb, nil
}

func (p *sqlitePluginSQL) run(ctx context.Context, id, query string, args []any, lim engine.SQLLimits, wantRows, checked bool) (engine.SQLResult, engine.ExecResult, error) {
	var sres engine.SQLResult
	var eres engine.ExecResult
	if err := checkPluginID(id); err != nil {
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
	pdb, err := p.get(ctx, id)
	if err != nil {
		return sres, eres, err
	}
	select {
	case pdb.sem <- struct{}{}:
	case <-ctx.Done():
		return sres, eres, ctx.Err()
	}
	defer func() { <-pdb.sem }()
	if pdb.closed {
		return sres, eres, fmt.Errorf("plugin %q: %w", id, engine.ErrNotFound)
	}
	if err := pdb.applyMaxSize(ctx, lim.MaxDBBytes); err != nil {
		return sres, eres, err
	}
	lctx, cancel := limitCtx(ctx, lim)
	defer cancel()
	if wantRows {
		rows, err := pdb.db.QueryContext(lctx, query, bargs...)
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
	r, err := pdb.db.ExecContext(lctx, query, bargs...)
	if err != nil {
		return sres, eres, sqliteErr(ctx, lctx, err)
	}
	eres.RowsAffected, _ = r.RowsAffected()
	eres.LastInsertID, _ = r.LastInsertId()
	return sres, eres, nil
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
		switch se.Code() & 0xff {
		case 23: // SQLITE_AUTH
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

// dropAfter closes the plugin's database and removes its files.
func (p *sqlitePluginSQL) dropAfter(id string) error {
	if checkPluginID(id) != nil {
		return nil // no such file can exist
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if pdb := p.dbs[id]; pdb != nil {
		delete(p.dbs, id)
		pdb.sem <- struct{}{}
		pdb.closed = true
		pdb.db.Close()
		<-pdb.sem
	}
	var errs []error
	for _, suffix := range []string{"", "-journal", "-wal", "-shm"} {
		if err := os.Remove(p.path(id) + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
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
	for id, pdb := range p.dbs {
		pdb.sem <- struct{}{}
		pdb.closed = true
		errs = append(errs, pdb.db.Close())
		<-pdb.sem
		delete(p.dbs, id)
	}
	return errors.Join(errs...)
}
