package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/maidhq/maid/engine"
)

func TestOpenErrors(t *testing.T) {
	ctx := testCtx(t)
	for _, tc := range []struct {
		name string
		dsn  string
		want error
	}{
		{"unknown scheme", "mysql://u@h/db", engine.ErrInvalid},
		{"no scheme", "data/maid.db", engine.ErrInvalid},
		{"sqlite query params", "sqlite://" + filepath.Join(t.TempDir(), "x.db") + "?_pragma=foo", engine.ErrInvalid},
		{"sqlite memory", "sqlite://:memory:", engine.ErrInvalid},
		{"postgres unreachable", "postgres://maid:hunter2@127.0.0.1:1/maid?sslmode=disable&connect_timeout=2", engine.ErrUnavailable},
		{"postgresql unreachable", "postgresql://maid:hunter2@127.0.0.1:1/maid?sslmode=disable&connect_timeout=2", engine.ErrUnavailable},
		{"postgres bad url", "postgres://maid:hun%zzter2@127.0.0.1/maid", engine.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(ctx, tc.dsn, Options{})
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "hun%zzter2") {
				t.Fatalf("error leaks the password: %v", err)
			}
		})
	}
}

func TestOpenSQLiteDefaultPath(t *testing.T) {
	t.Chdir(t.TempDir())
	s, err := Open(testCtx(t), "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(filepath.Join("data", "maid.db")); err != nil {
		t.Fatalf("default database not created: %v", err)
	}
	var mode string
	must(t, s.wdb.Get(&mode, "PRAGMA journal_mode"))
	if mode != "wal" {
		t.Fatalf("journal mode %q, want wal", mode)
	}
	var fk int
	must(t, s.wdb.Get(&fk, "PRAGMA foreign_keys"))
	if fk != 1 {
		t.Fatal("foreign keys off")
	}
}

func countMigrations(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	must(t, s.rdb.Get(&n, "SELECT count(*) FROM schema_migrations"))
	return n
}

func embeddedMigrations(t *testing.T, d dialect) int {
	ms, err := loadMigrations(migrationsFS, d)
	must(t, err)
	if len(ms) == 0 {
		t.Fatal("no migrations embedded")
	}
	return len(ms)
}

// TestMigrationsIdempotent opens the same database twice: the second open
// applies nothing and the data stays.
func TestMigrationsIdempotent(t *testing.T) {
	for _, b := range []struct {
		name string
		dsn  func(t *testing.T) string
		d    dialect
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "m.db") }, dialectSQLite},
		{"postgres", func(t *testing.T) string { return freshPostgres(t) }, dialectPostgres},
	} {
		t.Run(b.name, func(t *testing.T) {
			ctx := testCtx(t)
			dsn := b.dsn(t)
			s1, err := Open(ctx, dsn, Options{})
			must(t, err)
			install(t, ctx, s1, "keep")
			must(t, s1.KVSet(ctx, engine.Scope{PluginID: "keep", ServerID: "1"}, "k", raw(`1`), noQuota))
			n1 := countMigrations(t, s1)
			must(t, s1.Close())
			s2, err := Open(ctx, dsn, Options{})
			must(t, err)
			defer s2.Close()
			if n2 := countMigrations(t, s2); n2 != n1 || n1 != embeddedMigrations(t, b.d) {
				t.Fatalf("migrations recorded: %d then %d, embedded %d", n1, n2, embeddedMigrations(t, b.d))
			}
			if _, ok, err := s2.KVGet(ctx, engine.Scope{PluginID: "keep", ServerID: "1"}, "k"); err != nil || !ok {
				t.Fatalf("data lost across reopen: %v %v", ok, err)
			}
		})
	}
}

// TestMigrationFailure: a broken migration is reported with its file name,
// and neither it nor its record is applied.
func TestMigrationFailure(t *testing.T) {
	eachBackend(t, func(t *testing.T, ctx context.Context, s *Store) {
		dir := "migrations/" + s.d.String()
		fsys := fstest.MapFS{}
		must(t, fs.WalkDir(migrationsFS, dir, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			data, err := fs.ReadFile(migrationsFS, p)
			fsys[p] = &fstest.MapFile{Data: data}
			return err
		}))
		fsys[dir+"/9001_ok.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE m9001 (x INTEGER);")}
		fsys[dir+"/9002_broken.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE m9002 (x INTEGER); CREATE TABLE broken (")}
		err := s.migrate(ctx, fsys)
		if err == nil || !strings.Contains(err.Error(), "9002_broken.sql") {
			t.Fatalf("got %v, want an error naming 9002_broken.sql", err)
		}
		var n int
		must(t, s.rdb.Get(&n, s.q("SELECT count(*) FROM schema_migrations WHERE version = ?"), 9002))
		if n != 0 {
			t.Fatal("broken migration recorded")
		}
		must(t, s.rdb.Get(&n, s.q("SELECT count(*) FROM schema_migrations WHERE version = ?"), 9001))
		if n != 1 {
			t.Fatal("good migration before the broken one not recorded")
		}
		if _, err := s.rdb.Exec("SELECT count(*) FROM m9002"); err == nil {
			t.Fatal("half of the broken migration was applied")
		}
		fsys[dir+"/9003_dup.sql"] = &fstest.MapFile{Data: []byte("SELECT 1;")}
		fsys[dir+"/9003_dup2.sql"] = &fstest.MapFile{Data: []byte("SELECT 1;")}
		if err := s.migrate(ctx, fsys); err == nil || !strings.Contains(err.Error(), "share version 9003") {
			t.Fatalf("duplicate versions: %v", err)
		}
	})
}

// TestPostgresConcurrentOpen: several nodes starting at once on a fresh
// database all succeed (advisory lock around migrations).
func TestPostgresConcurrentOpen(t *testing.T) {
	dsn := freshPostgres(t)
	ctx := testCtx(t)
	const nodes = 6
	stores := make([]*Store, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = Open(ctx, dsn, Options{MaxOpenConns: 2})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	if n := countMigrations(t, stores[0]); n != embeddedMigrations(t, dialectPostgres) {
		t.Fatalf("%d migrations recorded", n)
	}
	// Nodes share the data, and plugin SQL roles made by one work on another.
	install(t, ctx, stores[0], "shared")
	_, err := stores[1].SQLExec(ctx, sqlScope("shared"), "CREATE TABLE t (v INTEGER)", nil, sqlLim)
	must(t, err)
	_, err = stores[2].SQLExec(ctx, sqlScope("shared"), "INSERT INTO t VALUES (1)", nil, sqlLim)
	must(t, err)
	r, err := stores[3].SQLQuery(ctx, sqlScope("shared"), "SELECT count(*) FROM t", nil, sqlLim)
	must(t, err)
	if r.Rows[0][0] != int64(1) {
		t.Fatalf("rows: %v", r.Rows)
	}
	// Quota holds across nodes.
	q := engine.Quota{MaxKeys: 20, MaxBytes: 1 << 20}
	sc := engine.Scope{PluginID: "shared", ServerID: "1"}
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 10 {
				err := stores[i].KVSet(ctx, sc, fmt.Sprintf("n%d/%d", i, j), raw(`1`), q)
				if err != nil && !errors.Is(err, engine.ErrQuota) {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if n, _ := stores[0].KVCount(ctx, sc, ""); n != q.MaxKeys {
		t.Fatalf("%d keys across nodes, quota %d", n, q.MaxKeys)
	}
	// Deleting on one node drops the role even though others have pools.
	must(t, stores[4].DeletePlugin(ctx, "shared"))
	var roles int
	must(t, stores[0].rdb.Get(&roles, "SELECT count(*) FROM pg_roles WHERE rolname = $1", pgName("maid_"+token(t, stores[0])+"_", "shared.1")))
	if roles != 0 {
		t.Fatal("plugin role left behind")
	}
	// Reinstalled, the plugin gets a new role and password; nodes that
	// cached a pool for the old one reconnect.
	install(t, ctx, stores[0], "shared")
	for i := range nodes {
		r, err := stores[i].SQLQuery(ctx, sqlScope("shared"), "SELECT count(*) FROM pg_tables WHERE tablename = 't'", nil, sqlLim)
		if err != nil {
			t.Fatalf("node %d after reinstall: %v", i, err)
		}
		if r.Rows[0][0] != int64(0) {
			t.Fatalf("node %d sees the deleted table", i)
		}
	}
}

// TestSQLiteTwoStoresOneFile: two stores (as two processes would) writing
// the same file concurrently never fail with SQLITE_BUSY.
func TestSQLiteTwoStoresOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	ctx := testCtx(t)
	var stores [2]*Store
	for i := range stores {
		s, err := Open(ctx, "sqlite://"+path, Options{})
		must(t, err)
		defer s.Close()
		stores[i] = s
	}
	install(t, ctx, stores[0], "p")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[i%2]
			for j := range 25 {
				if err := s.KVSet(ctx, engine.Scope{PluginID: "p", ServerID: "1"}, fmt.Sprintf("%d/%d", i, j), raw(`1`), noQuota); err != nil {
					t.Error(err)
					return
				}
				if err := s.MetricAdd(ctx, "1", "", "messages", "2026-01-01", 1, 0); err != nil {
					t.Error(err)
					return
				}
				if _, _, err := s.KVGet(ctx, engine.Scope{PluginID: "p", ServerID: "1"}, "0/0"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	n, err := stores[1].KVCount(ctx, engine.Scope{PluginID: "p", ServerID: "1"}, "")
	must(t, err)
	m, err := stores[0].MetricRange(ctx, "1", "", "messages", "2026-01-01", "2026-01-01")
	must(t, err)
	if n != 200 || m["2026-01-01"] != 200 {
		t.Fatalf("keys %d, messages %v", n, m)
	}
}

func TestPingAndClose(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			must(t, s.Ping(ctx))
			install(t, ctx, s, "p")
			_, err := s.SQLExec(ctx, sqlScope("p"), "CREATE TABLE t (v INTEGER)", nil, sqlLim)
			must(t, err)
			must(t, s.Close())
			wantErr(t, s.Ping(ctx), engine.ErrUnavailable)
		})
	}
}

func TestSettingsOptionsRoundTrip(t *testing.T) {
	// Options keep their JSON values (compacted) through both dialects.
	eachBackend(t, func(t *testing.T, ctx context.Context, s *Store) {
		install(t, ctx, s, "p")
		opts := map[string]json.RawMessage{"list": raw(`[1, "two", {"3": null}]`), "uni": raw(`"héllo 😀 \u0000"`)}
		must(t, s.SetOptions(ctx, "1", "p", opts))
		sp, err := s.GetServerPlugin(ctx, "1", "p")
		must(t, err)
		if string(sp.Options["list"]) != `[1,"two",{"3":null}]` || string(sp.Options["uni"]) != `"héllo 😀 \u0000"` {
			t.Fatalf("options: %s %s", sp.Options["list"], sp.Options["uni"])
		}
	})
}
