package store

import (
	"errors"
	"strings"
	"testing"

	"github.com/maidhq/maid/engine"
)

func TestCheckPluginSQL(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    dialect
		sql  string
		want error // nil: allowed
	}{
		{"select", dialectSQLite, "SELECT 1", nil},
		{"trailing semicolon and comment", dialectSQLite, "SELECT 1; -- done\n", nil},
		{"semicolon in string", dialectSQLite, "SELECT 'a;b'", nil},
		{"semicolon in quoted ident", dialectSQLite, `SELECT 1 AS "a;b"`, nil},
		{"semicolon in bracket ident", dialectSQLite, `SELECT 1 AS [a;b]`, nil},
		{"semicolon in backtick ident", dialectSQLite, "SELECT 1 AS `a;b`", nil},
		{"semicolon in comment", dialectSQLite, "SELECT 1 /* ; DROP */", nil},
		{"doubled quote", dialectSQLite, "SELECT 'it''s; fine'", nil},
		{"two statements", dialectSQLite, "SELECT 1; SELECT 2", engine.ErrSQLDenied},
		{"statement after comment", dialectSQLite, "SELECT 1; /* x */ DELETE FROM t", engine.ErrSQLDenied},
		{"empty", dialectSQLite, " ; -- nothing", engine.ErrInvalid},
		{"attach", dialectSQLite, "attach 'x' as y", engine.ErrSQLDenied},
		{"pragma", dialectSQLite, "PRAGMA foo", engine.ErrSQLDenied},
		{"vacuum", dialectSQLite, "VACUUM INTO 'x'", engine.ErrSQLDenied},
		{"create table", dialectSQLite, "CREATE TABLE IF NOT EXISTS t (x)", nil},
		{"create unique index", dialectSQLite, "CREATE UNIQUE INDEX i ON t (x)", nil},
		{"create temp", dialectSQLite, "CREATE TEMP TABLE t (x)", engine.ErrSQLDenied},
		{"with insert", dialectSQLite, "WITH a AS (SELECT 1) INSERT INTO t SELECT * FROM a", nil},
		{"sqlite dollar param", dialectSQLite, "SELECT $x", nil},
		{"pg select", dialectPostgres, "SELECT 1", nil},
		{"pg dollar quote hides semicolon", dialectPostgres, "SELECT $$a; b$$", nil},
		{"pg tagged dollar quote", dialectPostgres, "SELECT $t$ $$ ; $t$", nil},
		{"pg dollar quote then statement", dialectPostgres, "SELECT $$a$$; DELETE FROM t", engine.ErrSQLDenied},
		{"pg e string escaped quote", dialectPostgres, `SELECT E'\'; DELETE FROM t'`, nil},
		{"pg e string then statement", dialectPostgres, `SELECT E'\\'; DELETE FROM t`, engine.ErrSQLDenied},
		{"pg standard string backslash", dialectPostgres, `SELECT '\'; DELETE FROM t`, engine.ErrSQLDenied},
		{"pg nested comment", dialectPostgres, "SELECT 1 /* a /* b */ ; */", nil},
		{"pg set role", dialectPostgres, "SET ROLE postgres", engine.ErrSQLDenied},
		{"pg reset", dialectPostgres, "reset role", engine.ErrSQLDenied},
		{"pg copy", dialectPostgres, "COPY t TO STDOUT", engine.ErrSQLDenied},
		{"pg do", dialectPostgres, "DO $$ BEGIN END $$", engine.ErrSQLDenied},
		{"pg create function", dialectPostgres, "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'", engine.ErrSQLDenied},
		{"pg create or replace view", dialectPostgres, "CREATE OR REPLACE VIEW v AS SELECT 1", nil},
		{"pg create temp", dialectPostgres, "CREATE TEMPORARY TABLE t (x int)", engine.ErrSQLDenied},
		{"pg create schema", dialectPostgres, "CREATE SCHEMA s", engine.ErrSQLDenied},
		{"pg alter role", dialectPostgres, "ALTER ROLE x SUPERUSER", engine.ErrSQLDenied},
		{"pg set_config", dialectPostgres, "SELECT set_config('role', 'maid', false)", engine.ErrSQLDenied},
		{"pg qualified set_config", dialectPostgres, "SELECT pg_catalog.SET_CONFIG('role', 'maid', false)", engine.ErrSQLDenied},
		{"pg quoted set_config", dialectPostgres, `SELECT "set_config"('role', 'maid', false)`, engine.ErrSQLDenied},
		{"pg advisory lock", dialectPostgres, "SELECT pg_advisory_lock(1)", engine.ErrSQLDenied},
		{"pg large object", dialectPostgres, "SELECT lo_create(0)", engine.ErrSQLDenied},
		{"pg unicode escape", dialectPostgres, `SELECT U&"\0073et_config"('a','b',false)`, engine.ErrSQLDenied},
		{"pg function name in string is fine", dialectPostgres, "SELECT 'set_config'", nil},
		{"pg query_to_xml", dialectPostgres, "SELECT query_to_xml('select 1', true, false, '')", engine.ErrSQLDenied},
		{"pg qualified query_to_xmlschema", dialectPostgres, "SELECT pg_catalog.query_to_xmlschema('select 1', true, false, '')", engine.ErrSQLDenied},
		{"pg ts_stat", dialectPostgres, "SELECT * FROM ts_stat('select 1')", engine.ErrSQLDenied},
		{"pg cursor_to_xml", dialectPostgres, "SELECT cursor_to_xml('c', 1, true, false, '')", engine.ErrSQLDenied},
		{"pg pg_notify", dialectPostgres, "SELECT pg_notify('a', 'b')", engine.ErrSQLDenied},
		{"pg comment", dialectPostgres, "COMMENT ON TABLE t IS 'x'", engine.ErrSQLDenied},
		{"pg begin", dialectPostgres, "BEGIN", engine.ErrSQLDenied},
		{"pg grant", dialectPostgres, "GRANT SELECT ON t TO PUBLIC", engine.ErrSQLDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := checkPluginSQL(tc.sql, tc.d)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("denied: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestRebindQmarks(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"plain", "SELECT ? + ?", "SELECT $1 + $2"},
		{"in string", "SELECT '?', ?", "SELECT '?', $1"},
		{"in comment", "SELECT ? -- ?\n, ?", "SELECT $1 -- ?\n, $2"},
		{"in ident", `SELECT "?" FROM t WHERE x = ?`, `SELECT "?" FROM t WHERE x = $1`},
		{"in dollar quote", "SELECT $$?$$, ?", "SELECT $$?$$, $1"},
		{"already numbered", "SELECT $1, data ? 'k'", "SELECT $1, data ? 'k'"},
		{"none", "SELECT 1", "SELECT 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := rebindQmarks(tc.in, scanSQL(tc.in, dialectPostgres)); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzScanSQL: the lexer never panics, placeholders it reports are '?'
// bytes, rebinding leaves no '?' placeholder and keeps the statement count,
// and a statement joined to another with ';' counts as more than one.
func FuzzScanSQL(f *testing.F) {
	for _, s := range []string{"SELECT 1", "SELECT '?;'", `SELECT E'\';'`, "SELECT $a$;$a$", "/* /* */ ; */", "SELECT [x;]", "SELECT `;`", "?;?", "U&'x'", "--;\n;", "$1 ?"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		for _, d := range []dialect{dialectSQLite, dialectPostgres} {
			sc := scanSQL(q, d)
			if sc.statements < 0 {
				t.Fatal("negative statements")
			}
			for _, off := range sc.qmarks {
				if q[off] != '?' {
					t.Fatalf("qmark offset %d is %q", off, q[off])
				}
			}
			checkPluginSQL(q, d)
			if d == dialectPostgres && !sc.dollarNums {
				out := rebindQmarks(q, sc)
				sc2 := scanSQL(out, d)
				if len(sc2.qmarks) != 0 || sc2.statements != sc.statements {
					t.Fatalf("rebind %q -> %q: %d qmarks, %d vs %d statements", q, out, len(sc2.qmarks), sc2.statements, sc.statements)
				}
			}
			// A complete, clean first statement followed by another is never one statement.
			if !strings.ContainsAny(q, "'\"`[$-/;") && sc.statements == 1 {
				if two := scanSQL(q+"; SELECT 2", d); two.statements != 2 {
					t.Fatalf("%q; SELECT 2: %d statements", q, two.statements)
				}
			}
		}
	})
}
