// Package store is maid's persistence: engine.Store on sqlx, with SQLite
// (modernc.org/sqlite, pure Go, the embedded default) and PostgreSQL
// (github.com/lib/pq) behind the same code. Everything dialect-specific stays
// in this package; both dialects pass one test suite.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"modernc.org/sqlite"

	"github.com/maidhq/maid/engine"
)

// DefaultDSN is the embedded default database.
const DefaultDSN = "sqlite://./data/maid.db"

// Options tunes Open. The zero value is usable.
type Options struct {
	// DataDir holds the plugin SQLite databases, one per (plugin, server)
	// (DataDir/plugin-sql/<plugin_id>/<server_id>.db), on SQLite. Empty: the
	// directory of the main database file. Unused on PostgreSQL, where
	// plugin SQL lives in per-(plugin, server) schemas.
	DataDir string
	// Pool settings. On PostgreSQL they size the main pool; on SQLite the
	// reader pool (writes always go through one connection). Zero: defaults.
	MaxOpenConns    int
	MaxIdleConns    int
	ConnMaxLifetime time.Duration
	// Logger receives warnings (skipped hardening, newer schema). Nil: discard.
	Logger *slog.Logger
}

type dialect int

const (
	dialectSQLite dialect = iota
	dialectPostgres
)

func (d dialect) String() string {
	if d == dialectPostgres {
		return "postgres"
	}
	return "sqlite"
}

// pluginSQL is the dialect's engine.PluginSQL plus cleanup.
type pluginSQL interface {
	run(ctx context.Context, sc engine.Scope, query string, args []any, lim engine.SQLLimits, wantRows, checked bool) (engine.SQLResult, engine.ExecResult, error)
	// drop removes the plugin's SQL data; tx is the DeletePlugin transaction
	// (PostgreSQL drops schema and role in it; SQLite removes files after).
	dropInTx(ctx context.Context, tx *sqlx.Tx, pluginID string) error
	dropAfter(pluginID string) error
	close() error
}

// Store implements engine.Store. Safe for concurrent use.
type Store struct {
	d   dialect
	rdb *sqlx.DB // reads (on PostgreSQL: everything)
	wdb *sqlx.DB // writes (on SQLite: one connection, so writers queue in Go instead of failing with SQLITE_BUSY)
	log *slog.Logger
	sql pluginSQL
	dsn string // PostgreSQL: for the cluster's LISTEN connection

	kvGroup kvCommitter // KV writes, committed in groups (group.go)
	stmts   stmtCache   // prepared statements of the write path
}

var _ engine.Store = (*Store)(nil)

// Open opens (creating if needed) the database named by dsn and applies
// pending migrations: "sqlite://path" (default ./data/maid.db) or
// "postgres://..." / "postgresql://..." (lib/pq URL syntax). An empty dsn
// means DefaultDSN.
func Open(ctx context.Context, dsn string, opt Options) (*Store, error) {
	if dsn == "" {
		dsn = DefaultDSN
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return nil, fmt.Errorf("store: open: DSN must start with sqlite:// or postgres://: %w", engine.ErrInvalid)
	}
	switch strings.ToLower(scheme) {
	case "sqlite":
		return openSQLite(ctx, rest, opt)
	case "postgres", "postgresql":
		return openPostgres(ctx, dsn, opt)
	default:
		return nil, fmt.Errorf("store: open: unknown database scheme %q (want sqlite:// or postgres://): %w", scheme, engine.ErrInvalid)
	}
}

func openSQLite(ctx context.Context, path string, opt Options) (*Store, error) {
	if path == "" {
		path = "./data/maid.db"
	}
	if strings.ContainsAny(path, "?#") || path == ":memory:" {
		return nil, fmt.Errorf("store: open sqlite: path %q: must be a file path without query parameters: %w", path, engine.ErrInvalid)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("store: open sqlite: create directory: %w", err)
	}
	// busy_timeout covers other processes (backup tools, a second maid by
	// mistake); in-process writers never contend because there is one writer
	// connection. _txlock=immediate takes the write lock at BEGIN, so a write
	// transaction never fails half-way upgrading a read lock.
	common := "_busy_timeout=10000&_foreign_keys=1&_synchronous=NORMAL"
	w, err := sqlx.Open("sqlite", path+"?"+common+"&_journal_mode=WAL&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w: %w", path, engine.ErrUnavailable, err)
	}
	r, err := sqlx.Open("sqlite", path+"?"+common+"&_query_only=1")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	applyPool(r.DB, opt, 4)
	s, err := newStore(ctx, &Store{d: dialectSQLite, rdb: r, wdb: w, log: opt.Logger})
	if err != nil {
		return nil, err
	}
	dataDir := opt.DataDir
	if dataDir == "" {
		dataDir = filepath.Dir(path)
	}
	s.sql = newSQLitePluginSQL(s, filepath.Join(dataDir, "plugin-sql"))
	return s, nil
}

func openPostgres(ctx context.Context, dsn string, opt Options) (*Store, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		// url.Parse errors quote the input, which may hold a password.
		return nil, fmt.Errorf("store: open postgres: DSN is not a valid URL: %w", engine.ErrInvalid)
	}
	where := u.Redacted()
	db, err := sqlx.Open("postgres", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open postgres %s: %w", where, err)
	}
	applyPool(db.DB, opt, 10)
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open postgres %s: database unreachable: %w: %w", where, engine.ErrUnavailable, err)
	}
	s, err := newStore(ctx, &Store{d: dialectPostgres, rdb: db, wdb: db, log: opt.Logger, dsn: dsn})
	if err != nil {
		return nil, err
	}
	s.hardenPostgres(ctx)
	s.sql = newPGPluginSQL(s, u)
	if _, _, handled, err := pluginTLS(u); err != nil || !handled {
		s.log.Warn("store: plugin SQL connections use TLS settings maid does not negotiate itself; their results are not size-bounded on the wire (docs/security.md)", "error", err)
	}
	return s, nil
}

// newStore finishes a Store whose connections are open: it migrates the
// schema and prepares statements, and closes s if either fails.
func newStore(ctx context.Context, s *Store) (*Store, error) {
	s.kvGroup.s = s
	if err := s.migrate(ctx, migrationsFS); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// convertRows turns scanned rows into engine values; the first row that
// does not convert fails the whole list.
func convertRows[R, T any](rows []R, convert func(R) (T, error)) ([]T, error) {
	out := make([]T, 0, len(rows))
	for _, r := range rows {
		v, err := convert(r)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func applyPool(db *sql.DB, opt Options, defOpen int) {
	open := opt.MaxOpenConns
	if open <= 0 {
		open = defOpen
	}
	idle := opt.MaxIdleConns
	if idle <= 0 {
		idle = open / 2
		if idle < 1 {
			idle = 1
		}
	}
	life := opt.ConnMaxLifetime
	if life <= 0 {
		life = 30 * time.Minute
	}
	db.SetMaxOpenConns(open)
	db.SetMaxIdleConns(idle)
	db.SetConnMaxLifetime(life)
}

// Dialect reports "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.d.String() }

// Ping checks the database answers (readiness).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping %s: %w: %w", s.d, engine.ErrUnavailable, err)
	}
	var one int
	if err := s.rdb.GetContext(ctx, &one, "SELECT 1"); err != nil {
		return fmt.Errorf("store: ping %s: %w: %w", s.d, engine.ErrUnavailable, err)
	}
	return nil
}

// Close closes plugin databases and the main pools.
func (s *Store) Close() error {
	var errs []error
	errs = append(errs, s.stmts.close())
	if s.sql != nil {
		errs = append(errs, s.sql.close())
	}
	if s.rdb != nil {
		errs = append(errs, s.rdb.Close())
	}
	if s.wdb != nil && s.wdb != s.rdb {
		errs = append(errs, s.wdb.Close())
	}
	return errors.Join(errs...)
}

// q rewrites ? placeholders for the dialect.
func (s *Store) q(query string) string {
	if s.d == dialectPostgres {
		return sqlx.Rebind(sqlx.DOLLAR, query)
	}
	return query
}

// writeTx runs fn in a write transaction, committing if it returns nil.
func (s *Store) writeTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.wdb.BeginTxx(ctx, nil)
	if err != nil {
		return s.dbErr(err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return s.dbErr(err)
	}
	return nil
}

// dbErr marks connection-level failures as unavailable.
func (s *Store) dbErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var pe *pq.Error
	if errors.As(err, &pe) {
		if pe.Code.Class() == "08" || pe.Code.Class() == "57" && pe.Code != "57014" {
			return fmt.Errorf("%w: %w", engine.ErrUnavailable, err)
		}
		return err
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return err
	}
	if errors.Is(err, sql.ErrConnDone) || errors.Is(err, sql.ErrTxDone) {
		return err
	}
	// lib/pq reports a lost connection as a plain net error or driver.ErrBadConn.
	return fmt.Errorf("%w: %w", engine.ErrUnavailable, err)
}

// isFKViolation reports a foreign key failure (the plugin is not installed).
func isFKViolation(err error) bool {
	var pe *pq.Error
	if errors.As(err, &pe) {
		return pe.Code == "23503"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == 787 // SQLITE_CONSTRAINT_FOREIGNKEY
	}
	return false
}

// checkText rejects strings both dialects cannot store identically:
// PostgreSQL text refuses NUL bytes and invalid UTF-8.
func checkText(field, v string) error {
	if !utf8.ValidString(v) {
		return fmt.Errorf("%s: must be valid UTF-8: %w", field, engine.ErrInvalid)
	}
	if strings.IndexByte(v, 0) >= 0 {
		return fmt.Errorf("%s: must not contain NUL characters: %w", field, engine.ErrInvalid)
	}
	return nil
}

func checkTexts(kv ...string) error {
	for i := 0; i+1 < len(kv); i += 2 {
		if err := checkText(kv[i], kv[i+1]); err != nil {
			return err
		}
	}
	return nil
}

func toMicros(t time.Time) int64 { return t.UTC().UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }
