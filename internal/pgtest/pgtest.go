// Package pgtest gives a test a throwaway PostgreSQL database on the server
// MAID_TEST_POSTGRES_DSN names. Without a server the test fails under
// CI=true and skips elsewhere (testenv). The store's tests and the
// reliability suite share it, so both clean up the same way.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/maidhq/maid/internal/testenv"
)

const fix = "set MAID_TEST_POSTGRES_DSN to a PostgreSQL role with CREATEDB and CREATEROLE; " +
	`on Debian: eval "$(bash scripts/ci-postgres.sh)"`

// Admin returns MAID_TEST_POSTGRES_DSN once its server answers.
func Admin(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("MAID_TEST_POSTGRES_DSN")
	if dsn == "" {
		testenv.Unavailable(t, "PostgreSQL", fix, errors.New("MAID_TEST_POSTGRES_DSN is not set"))
	}
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		testenv.Unavailable(t, "PostgreSQL", fix, err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		testenv.Unavailable(t, "PostgreSQL", fix, err)
	}
	return dsn
}

// Fresh creates a database named prefix and a random suffix and returns
// its DSN. At cleanup the database and the plugin roles maid made for it
// are dropped; the drop is retried for ten seconds, as a test may have
// restarted the server.
func Fresh(t testing.TB, prefix string) string {
	t.Helper()
	admin := Admin(t)
	var b [6]byte
	rand.Read(b[:])
	name := prefix + hex.EncodeToString(b[:])
	db, err := sql.Open("postgres", admin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE DATABASE " + pq.QuoteIdentifier(name)); err != nil {
		db.Close()
		t.Fatalf("create test database: %v (%s)", err, fix)
	}
	u, err := url.Parse(admin)
	if err != nil {
		db.Close()
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
		for range 20 { // the server may still be coming back
			if _, err = db.Exec("DROP DATABASE IF EXISTS " + pq.QuoteIdentifier(name) + " WITH (FORCE)"); err == nil {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if err != nil {
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
			if _, err := db.Exec("DROP ROLE " + pq.QuoteIdentifier(r)); err != nil {
				t.Errorf("drop test role %s: %v", r, err)
			}
		}
	})
	return dsn
}
