package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/lib/pq"
)

const pgHelp = "set MAID_TEST_POSTGRES_DSN to a PostgreSQL role with CREATEDB and CREATEROLE " +
	`(on Debian: eval "$(bash scripts/ci-postgres.sh)")`

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// openTestSQLite opens a store on a fresh SQLite file in a temp dir.
func openTestSQLite(t testing.TB) *Store {
	t.Helper()
	s, err := Open(testCtx(t), "sqlite://"+filepath.Join(t.TempDir(), "maid.db"), Options{})
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// pgAdmin returns the test server's DSN, or fails (CI=true) or skips.
func pgAdmin(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("MAID_TEST_POSTGRES_DSN")
	unavailable := func(why string) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL tests need a server (%s): %s", why, pgHelp)
		}
		t.Skipf("skipping PostgreSQL test (%s): %s", why, pgHelp)
	}
	if dsn == "" {
		unavailable("MAID_TEST_POSTGRES_DSN is not set")
	}
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		unavailable(err.Error())
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		unavailable("server unreachable: " + err.Error())
	}
	return dsn
}

// freshPostgres creates a throwaway database and returns its DSN; the
// database and the plugin roles made for it are dropped at cleanup.
func freshPostgres(t testing.TB) string {
	t.Helper()
	admin := pgAdmin(t)
	var b [6]byte
	rand.Read(b[:])
	name := "maid_t_" + hex.EncodeToString(b[:])
	db, err := sql.Open("postgres", admin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE DATABASE " + pqIdent(name)); err != nil {
		db.Close()
		t.Fatalf("create test database: %v (the role needs CREATEDB; %s)", err, pgHelp)
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	dsn := u.String()
	t.Cleanup(func() {
		defer db.Close()
		var token string
		if tdb, err := sql.Open("postgres", dsn); err == nil {
			tdb.QueryRow("SELECT value FROM maid_meta WHERE key = 'role_token'").Scan(&token)
			tdb.Close()
		}
		if _, err := db.Exec("DROP DATABASE IF EXISTS " + pqIdent(name) + " WITH (FORCE)"); err != nil {
			t.Errorf("drop test database: %v", err)
		}
		if token == "" {
			return
		}
		rows, err := db.Query(`SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)`, "maid_"+token+"_")
		if err != nil {
			t.Errorf("list test roles: %v", err)
			return
		}
		var roles []string
		for rows.Next() {
			var r string
			rows.Scan(&r)
			roles = append(roles, r)
		}
		rows.Close()
		for _, r := range roles {
			if _, err := db.Exec("DROP ROLE " + pqIdent(r)); err != nil {
				t.Errorf("drop test role %s: %v", r, err)
			}
		}
	})
	return dsn
}

// openTestPostgres opens a store on a fresh PostgreSQL database.
func openTestPostgres(t testing.TB) *Store {
	t.Helper()
	dsn := freshPostgres(t)
	s, err := Open(testCtx(t), dsn, Options{})
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var backends = []struct {
	name string
	open func(testing.TB) *Store
}{
	{"sqlite", openTestSQLite},
	{"postgres", openTestPostgres},
}
