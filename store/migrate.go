package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jmoiron/sqlx"
)

// migrationsFS holds migrations/<dialect>/NNNN_name.sql. A migration is
// never edited once released; changes go in a new file.
//
//go:embed migrations
var migrationsFS embed.FS

// migrateLockKey is the pg_advisory_lock key that serializes migrations
// across maid nodes starting at once ("maid" in ASCII).
const migrateLockKey = 0x6d616964

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations(fsys fs.FS, d dialect) ([]migration, error) {
	dir := path.Join("migrations", d.String())
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("store: migrate %s: read migrations: %w", d, err)
	}
	var ms []migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, _ := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("store: migrate %s: file %s: name must start with a positive version number and '_'", d, e.Name())
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("store: migrate %s: files %s and %s share version %d", d, prev, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("store: migrate %s: read %s: %w", d, e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// migrate applies pending migrations, each in its own transaction together
// with its schema_migrations row. On PostgreSQL a session advisory lock makes
// concurrent starts wait for each other; on SQLite the writer's immediate
// transactions do the same across processes.
func (s *Store) migrate(ctx context.Context, fsys fs.FS) error {
	ms, err := loadMigrations(fsys, s.d)
	if err != nil {
		return err
	}
	conn, err := s.wdb.Connx(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate %s: connect: %w", s.d, s.dbErr(err))
	}
	defer conn.Close()
	if s.d == dialectPostgres {
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrateLockKey); err != nil {
			return fmt.Errorf("store: migrate postgres: take advisory lock: %w", s.dbErr(err))
		}
		defer func() {
			// A fresh context: the lock must be released even if ctx ended.
			conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrateLockKey)
		}()
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at BIGINT  NOT NULL
	)`); err != nil {
		return fmt.Errorf("store: migrate %s: create schema_migrations: %w", s.d, s.dbErr(err))
	}
	var applied []int
	if err := sqlx.SelectContext(ctx, conn, &applied, "SELECT version FROM schema_migrations ORDER BY version"); err != nil {
		return fmt.Errorf("store: migrate %s: read schema_migrations: %w", s.d, s.dbErr(err))
	}
	done := map[int]bool{}
	for _, v := range applied {
		done[v] = true
	}
	latest := 0
	for _, m := range ms {
		latest = m.version
		if done[m.version] {
			continue
		}
		if err := s.applyMigration(ctx, conn, m); err != nil {
			return err
		}
		s.log.Info("store: applied migration", "dialect", s.d.String(), "migration", m.name)
	}
	if n := len(applied); n > 0 && applied[n-1] > latest {
		// A newer maid migrated this database (rolling upgrade). Migrations
		// only add, so keep going, loudly.
		s.log.Warn("store: database schema is newer than this maid", "database_version", applied[n-1], "known_version", latest)
	}
	return nil
}

func (s *Store) applyMigration(ctx context.Context, conn *sqlx.Conn, m migration) error {
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: migrate %s: apply %s: begin: %w", s.d, m.name, s.dbErr(err))
	}
	// Another process may have applied it while this one waited for the lock
	// (SQLite takes it at BEGIN IMMEDIATE).
	var n int
	if err := tx.GetContext(ctx, &n, s.q("SELECT count(*) FROM schema_migrations WHERE version = ?"), m.version); err != nil {
		tx.Rollback()
		return fmt.Errorf("store: migrate %s: apply %s: %w", s.d, m.name, s.dbErr(err))
	}
	if n > 0 {
		return tx.Rollback()
	}
	// Exec without arguments runs every statement of the file (simple query
	// protocol on lib/pq, statement loop on modernc).
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		tx.Rollback()
		return fmt.Errorf("store: migrate %s: apply %s: %w", s.d, m.name, err)
	}
	if _, err := tx.ExecContext(ctx, s.q("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
		m.version, m.name, nowMicros()); err != nil {
		tx.Rollback()
		return fmt.Errorf("store: migrate %s: record %s: %w", s.d, m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: migrate %s: commit %s: %w", s.d, m.name, s.dbErr(err))
	}
	return nil
}

// hardenPostgres removes the default privileges PUBLIC (and so every plugin
// role) has on maid's database and schema, where maid owns them. Plugin roles
// never get grants on maid's tables; this also stops them creating objects
// outside their own schema and creating temporary tables. Skipped, with a
// warning, where maid is not the owner.
func (s *Store) hardenPostgres(ctx context.Context) {
	var dbOwner, schemaOwner bool
	var schema string
	err := s.rdb.QueryRowxContext(ctx, `SELECT
		pg_has_role(current_user, d.datdba, 'USAGE'),
		current_schema(),
		pg_has_role(current_user, n.nspowner, 'USAGE')
		FROM pg_database d, pg_namespace n
		WHERE d.datname = current_database() AND n.nspname = current_schema()`).Scan(&dbOwner, &schema, &schemaOwner)
	if err != nil {
		s.log.Warn("store: postgres hardening skipped: read owners", "err", err)
		return
	}
	if dbOwner {
		if _, err := s.wdb.ExecContext(ctx, `DO $$ BEGIN EXECUTE format('REVOKE CREATE, TEMPORARY ON DATABASE %I FROM PUBLIC', current_database()); END $$`); err != nil {
			s.log.Warn("store: postgres hardening: revoke database privileges from PUBLIC", "err", err)
		}
	} else {
		s.log.Warn("store: maid does not own its database; PUBLIC keeps its default TEMPORARY privilege (plugin roles can create temporary tables)")
	}
	if schemaOwner {
		if _, err := s.wdb.ExecContext(ctx, "REVOKE ALL ON SCHEMA "+pqIdent(schema)+" FROM PUBLIC"); err != nil {
			s.log.Warn("store: postgres hardening: revoke schema privileges from PUBLIC", "schema", schema, "err", err)
		}
	} else {
		s.log.Warn("store: maid does not own its schema; plugin roles can see (not read) its table names", "schema", schema)
	}
}
