package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"github.com/maidhq/maid/internal/pgtest"
)

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

// freshPostgres creates a throwaway database and returns its DSN; the
// database and the plugin roles made for it are dropped at cleanup.
func freshPostgres(t testing.TB) string { return pgtest.Fresh(t, "maid_t_") }

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

// eachBackend runs f as a subtest on a fresh store of each backend, with
// a context bounded like testCtx's.
func eachBackend(t *testing.T, f func(t *testing.T, ctx context.Context, s *Store)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)
			f(t, testCtx(t), s)
		})
	}
}
