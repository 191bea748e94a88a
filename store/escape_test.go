package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maidhq/maid/engine"
)

// The real barrier for plugin SQL is the database (PostgreSQL role
// privileges, SQLite's authorizer), not the statement check. These tests run
// crafted SQL with the check bypassed (checked=false) and require the
// database to refuse it, then through the public API.

func TestPostgresPluginSQLEscapes(t *testing.T) {
	s := openTestPostgres(t)
	ctx := testCtx(t)
	a, b := "evil", "victim"
	install(t, ctx, s, a)
	install(t, ctx, s, b)
	must(t, s.KVSet(ctx, engine.Scope{PluginID: b, ServerID: "1"}, "secret", raw(`"kv-secret"`), noQuota))
	_, err := s.SQLExec(ctx, sqlScope(b), "CREATE TABLE loot (v TEXT)", nil, sqlLim)
	must(t, err)
	_, err = s.SQLExec(ctx, sqlScope(b), "INSERT INTO loot (v) VALUES ('b-secret')", nil, sqlLim)
	must(t, err)
	_, err = s.SQLExec(ctx, sqlScope(a), "CREATE TABLE mine (v INTEGER)", nil, sqlLim)
	must(t, err)
	_, err = s.SQLExec(ctx, sqlScope(a), "INSERT INTO mine (v) VALUES (1)", nil, sqlLim)
	must(t, err)

	var maidUser, maidSchema string
	must(t, s.rdb.QueryRowxContext(ctx, "SELECT current_user, current_schema()").Scan(&maidUser, &maidSchema))
	victimSchema := pgName("maid_p_", b+".1")
	m, v := pqIdent(maidUser), pqIdent(victimSchema)
	ms := pqIdent(maidSchema)
	escapeFile := filepath.Join(t.TempDir(), "escape")

	for _, tc := range []struct {
		name string
		sql  string
	}{
		{"set role to maid", "SET ROLE " + m},
		{"set session authorization", "SET SESSION AUTHORIZATION " + m},
		{"set_config role", "SELECT set_config('role', '" + maidUser + "', false)"},
		{"do block set_config", "DO $$BEGIN PERFORM set_config('role', '" + maidUser + "', false); END$$"},
		{"function switching role", "SELECT * FROM esc_set()"},
		{"function resetting role", "SELECT * FROM esc_reset()"},
		{"read maid kv", "SELECT value FROM " + ms + ".kv"},
		{"read maid kv unqualified", "SELECT value FROM kv"},
		{"delete maid kv", "DELETE FROM " + ms + ".kv"},
		{"read plugin passwords", "SELECT password FROM " + ms + ".plugin_sql_roles"},
		{"read plugin scope passwords", "SELECT password FROM " + ms + ".plugin_sql_scopes"},
		{"change maid plugins", "UPDATE " + ms + ".plugins SET version = 'pwned'"},
		{"read other plugin", "SELECT v FROM " + v + ".loot"},
		{"write other plugin", "INSERT INTO " + v + ".loot (v) VALUES ('x')"},
		{"drop other plugin table", "DROP TABLE " + v + ".loot"},
		{"create in maid schema", "CREATE TABLE " + ms + ".evil (x INTEGER)"},
		{"create temp table", "CREATE TEMP TABLE evil (x INTEGER)"},
		{"multiple statements", "SELECT 1; DELETE FROM mine"},
		{"copy to file", "COPY mine TO '" + escapeFile + "'"},
		{"copy to program", "COPY (SELECT 1) TO PROGRAM 'touch " + escapeFile + "'"},
		{"read server file", "SELECT pg_read_file('/etc/passwd')"},
		{"list server dir", "SELECT pg_ls_dir('.')"},
		{"large object import", "SELECT lo_import('/etc/passwd')"},
		{"dblink", "SELECT * FROM dblink('dbname=postgres', 'SELECT 1') AS t(x int)"},
		{"create extension", "CREATE EXTENSION dblink"},
		{"load library", "LOAD 'dblink'"},
		{"alter own role", "ALTER ROLE CURRENT_USER CREATEROLE"},
		{"grant maid to self", "GRANT " + m + " TO CURRENT_USER"},
		{"create role", "CREATE ROLE evil2"},
		{"take own schema", "ALTER SCHEMA " + pqIdent(pgName("maid_p_", a+".1")) + " OWNER TO CURRENT_USER"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.HasPrefix(tc.name, "function") {
				// The plugin may create functions in its own schema when the
				// check is bypassed; calling them must not escalate.
				_, _, err := s.sql.run(ctx, sqlScope(a), "CREATE OR REPLACE FUNCTION esc_set() RETURNS bigint LANGUAGE plpgsql AS $$ DECLARE n bigint; BEGIN PERFORM set_config('role', '"+maidUser+"', true); EXECUTE 'SELECT count(*) FROM "+ms+".kv' INTO n; RETURN n; END $$", nil, sqlLim, false, false)
				must(t, err)
				_, _, err = s.sql.run(ctx, sqlScope(a), "CREATE OR REPLACE FUNCTION esc_reset() RETURNS bigint LANGUAGE plpgsql AS $$ DECLARE n bigint; BEGIN EXECUTE 'RESET ROLE'; EXECUTE 'SELECT count(*) FROM "+ms+".kv' INTO n; RETURN n; END $$", nil, sqlLim, false, false)
				must(t, err)
			}
			res, _, err := s.sql.run(ctx, sqlScope(a), tc.sql, nil, sqlLim, true, false)
			if err == nil {
				t.Fatalf("database allowed %q: %+v", tc.sql, res)
			}
			t.Logf("database refused: %v", err)
			_, err = s.SQLQuery(ctx, sqlScope(a), tc.sql, nil, sqlLim)
			if !errors.Is(err, engine.ErrSQLDenied) && !errors.Is(err, engine.ErrInvalid) {
				t.Fatalf("public API: got %v, want ErrSQLDenied or ErrInvalid", err)
			}
		})
	}

	// Nothing changed.
	val, ok, err := s.KVGet(ctx, engine.Scope{PluginID: b, ServerID: "1"}, "secret")
	must(t, err)
	if !ok || string(val) != `"kv-secret"` {
		t.Fatalf("maid kv changed: %s %v", val, ok)
	}
	r, err := s.SQLQuery(ctx, sqlScope(b), "SELECT v FROM loot", nil, sqlLim)
	must(t, err)
	if len(r.Rows) != 1 || r.Rows[0][0] != "b-secret" {
		t.Fatalf("victim table changed: %v", r.Rows)
	}
	r, err = s.SQLQuery(ctx, sqlScope(a), "SELECT count(*) FROM mine", nil, sqlLim)
	must(t, err)
	if r.Rows[0][0] != int64(1) {
		t.Fatalf("multiple statements ran: %v", r.Rows)
	}
	p, err := s.GetPlugin(ctx, b)
	must(t, err)
	if p.Version != "1.0.0" {
		t.Fatalf("plugins table changed: %+v", p)
	}
	if _, err := os.Stat(escapeFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a plugin wrote a server file: %v", err)
	}
	var super, createRole bool
	must(t, s.rdb.QueryRowxContext(ctx, "SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = $1", pgName("maid_"+token(t, s)+"_", a+".1")).Scan(&super, &createRole))
	if super || createRole {
		t.Fatal("plugin role gained attributes")
	}
	// maid's own sessions are still maid.
	var cur string
	must(t, s.rdb.GetContext(ctx, &cur, "SELECT current_user"))
	if cur != maidUser {
		t.Fatalf("maid's session user changed to %s", cur)
	}
}

func token(t *testing.T, s *Store) string {
	var tok string
	must(t, s.rdb.Get(&tok, "SELECT value FROM maid_meta WHERE key = 'role_token'"))
	return tok
}

func TestSQLitePluginSQLEscapes(t *testing.T) {
	s := openTestSQLite(t)
	ctx := testCtx(t)
	install(t, ctx, s, "evil")
	install(t, ctx, s, "victim")
	_, err := s.SQLExec(ctx, sqlScope("victim"), "CREATE TABLE loot (v TEXT)", nil, sqlLim)
	must(t, err)
	_, err = s.SQLExec(ctx, sqlScope("evil"), "CREATE TABLE mine (v INTEGER)", nil, sqlLim)
	must(t, err)
	_, err = s.SQLExec(ctx, sqlScope("evil"), "INSERT INTO mine VALUES (1)", nil, sqlLim)
	must(t, err)
	dir := t.TempDir()
	victimFile := s.sql.(*sqlitePluginSQL).path(sqliteKey{"victim", "1"})
	mainFile := filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(victimFile))), "maid.db")
	if _, err := os.Stat(mainFile); err != nil {
		t.Fatalf("main database not where the test looks: %v", err)
	}

	for _, tc := range []struct {
		name    string
		sql     string
		created string // a file that must not appear
	}{
		{"attach other plugin", "ATTACH DATABASE '" + victimFile + "' AS v", ""},
		{"attach maid database", "ATTACH DATABASE '" + mainFile + "' AS m", ""},
		{"attach new file", "ATTACH DATABASE '" + filepath.Join(dir, "new.db") + "' AS n", filepath.Join(dir, "new.db")},
		{"vacuum into", "VACUUM INTO '" + filepath.Join(dir, "copy.db") + "'", filepath.Join(dir, "copy.db")},
		{"pragma size limit", "PRAGMA max_page_count = 2000000000", ""},
		{"pragma writable schema", "PRAGMA writable_schema = ON", ""},
		{"pragma journal off", "PRAGMA journal_mode = OFF", ""},
		{"pragma function", "SELECT * FROM pragma_database_list", ""},
		{"load extension", "SELECT load_extension('/tmp/evil.so')", ""},
		{"temp table", "CREATE TEMP TABLE t (x)", ""},
		{"begin", "BEGIN", ""},
		{"savepoint", "SAVEPOINT s", ""},
		{"multiple statements then attach", "SELECT 1; ATTACH DATABASE '" + filepath.Join(dir, "multi.db") + "' AS x", filepath.Join(dir, "multi.db")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := s.sql.run(ctx, sqlScope("evil"), tc.sql, nil, sqlLim, false, false)
			if err == nil {
				t.Fatalf("database allowed %q", tc.sql)
			}
			t.Logf("database refused: %v", err)
			_, err = s.SQLExec(ctx, sqlScope("evil"), tc.sql, nil, sqlLim)
			if !errors.Is(err, engine.ErrSQLDenied) {
				t.Fatalf("public API: got %v, want ErrSQLDenied", err)
			}
			if tc.created != "" {
				if _, err := os.Stat(tc.created); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("%s was created", tc.created)
				}
			}
		})
	}
	// The plugin's own database still works, with its own PRAGMA-free reads.
	r, err := s.SQLQuery(ctx, sqlScope("evil"), "SELECT count(*) FROM mine", nil, sqlLim)
	must(t, err)
	if r.Rows[0][0] != int64(1) {
		t.Fatalf("own table: %v", r.Rows)
	}
}
