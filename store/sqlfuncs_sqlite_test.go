package store

import (
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"
	"time"

	"modernc.org/sqlite"

	"github.com/maidhq/maid/engine"
)

// TestSQLiteFuncOverrides: the Go replacements of ltrim, rtrim, trim (with
// a character set), instr and replace return exactly what SQLite's built-ins
// return (type and bytes), on text, blobs, numbers, NULL, embedded NULs and
// malformed UTF-8.
func TestSQLiteFuncOverrides(t *testing.T) {
	ctx := testCtx(t)
	builtin, err := sql.Open("sqlite", ":memory:")
	must(t, err)
	defer builtin.Close()
	plugin := sql.OpenDB(pluginConnector{dsn: ":memory:"})
	defer plugin.Close()
	vals := []string{"NULL", "''", "'abc'", "'  abc  '", "'aaa'", "'a'", "'b'", "'ab'", "'ba'", "'xyzzyx'", "'é'", "'éa'", "'aé'", "'ééaé'",
		"x'c3a9'", "x'80'", "x'c380'", "x'c3'", "x'c3a9a9'", "x'80c3a980'", "x''", "'a' || char(0) || 'b'", "char(0) || 'a'",
		"'ab' || x'c3'", "CAST(x'c3a9a9c3' AS TEXT)", "CAST(x'a9c3a9' AS TEXT)", "CAST(x'c3a9c3a9' AS TEXT)",
		"12", "-3", "0", "3.5", "0.1", "1e20", "-2.5e-7", "100.0", "123456789.125", "'1'", "'.'", "'2'",
		"'héllo wörld'", "'llo'", "'ö'", "'lo'", "'o'"}
	var exprs []string
	for _, x := range vals {
		for _, y := range vals {
			exprs = append(exprs, "ltrim("+x+", "+y+")", "rtrim("+x+", "+y+")", "trim("+x+", "+y+")", "instr("+x+", "+y+")")
			for _, z := range []string{"'-'", "''", "NULL", "7", "x'00'"} {
				exprs = append(exprs, "replace("+x+", "+y+", "+z+")")
			}
		}
	}
	// Character sets past sqliteTrimSetMax take SQLite's own loop.
	bigSet := "printf('%.*c', 70000, 'z') || "
	for _, x := range []string{"'ééaébxé'", "'aaa'", "x'c3a9a9c3a9'", "'zzaz'", "12.5"} {
		for _, y := range []string{"'é' || 'a'", "'a' || x'c3'", "x'a9c3'", "'5'"} {
			for _, f := range []string{"ltrim", "rtrim", "trim"} {
				exprs = append(exprs, f+"("+x+", "+bigSet+y+")")
			}
		}
	}
	for i := 0; i < 300; i++ {
		f := rand.NormFloat64() * math.Pow(10, float64(rand.Intn(44)-22))
		exprs = append(exprs, fmt.Sprintf("instr(%v, '5')", f), fmt.Sprintf("replace(%v, '.', ',')", f))
	}
	eval := func(db *sql.DB, e string) string {
		var s string
		if err := db.QueryRowContext(ctx, "SELECT typeof("+e+") || ':' || hex("+e+")").Scan(&s); err != nil {
			return "error: " + err.Error()
		}
		return s
	}
	for _, e := range exprs {
		if got, want := eval(plugin, e), eval(builtin, e); got != want {
			t.Errorf("%s: override %s, built-in %s", e, got, want)
		}
	}
}

// TestSQLiteFunctionCost: statements whose single function call costs the
// product of its arguments' lengths return within a few seconds (the 2 s
// timeout plus at most one bounded call), as a limit error or a result,
// instead of keeping maid's CPU busy for minutes; the database answers
// afterwards.
func TestSQLiteFunctionCost(t *testing.T) {
	s := openTestSQLite(t)
	ctx := testCtx(t)
	install(t, ctx, s, "cpu")
	lim := engine.DefaultLimits.SQL
	for _, tc := range []struct{ name, sql string }{
		// SQLite's LIKE with the longest pattern allowed, on the longest
		// value: the race detector slows SQLite's Go code about 35 times,
		// past any bound worth testing, so this case runs without it.
		{"like within the pattern bound", "SELECT printf('%.*c', 4000000, 'a') LIKE '%' || printf('%.*c', 47, 'a') || 'b%' AS x"},
		{"ltrim", "SELECT length(ltrim(printf('%.*c', 50000, 'a'), printf('%.*c', 50000, 'b') || 'a')) AS x"},
		{"rtrim", "SELECT length(rtrim(printf('%.*c', 50000, 'a'), 'a' || printf('%.*c', 50000, 'b'))) AS x"},
		{"trim", "SELECT length(trim(printf('%.*c', 50000, 'a'), printf('%.*c', 50000, 'b') || 'a')) AS x"},
		{"trim multibyte set", "SELECT length(trim(printf('%.*c', 400000, 'é'), printf('%.*c', 400000, 'ö') || 'é')) AS x"},
		{"trim huge set", "SELECT length(ltrim(printf('%.*c', 50000, 'a'), printf('%.*c', 4000000, 'b') || 'a')) AS x"},
		{"instr", "SELECT instr(printf('%.*c', 2000000, 'a'), printf('%.*c', 500000, 'a') || 'b') AS x"},
		{"replace", "SELECT length(replace(printf('%.*c', 2000000, 'a'), printf('%.*c', 500000, 'a') || 'b', 'x')) AS x"},
		{"like", "SELECT printf('%.*c', 4000000, 'a') LIKE '%' || printf('%.*c', 10000, 'a') || 'b%' AS x"},
		{"glob", "SELECT printf('%.*c', 4000000, 'a') GLOB '*' || printf('%.*c', 10000, 'a') || 'b*' AS x"},
		{"like function", "SELECT like('%' || printf('%.*c', 10000, 'a') || 'b%', printf('%.*c', 4000000, 'a')) AS x"},
		{"json_patch", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c LIMIT 100000) SELECT length(json_patch((SELECT '{' || group_concat('\"k'||x||'\":1') || '}' FROM c), (SELECT '{' || group_concat('\"j'||x||'\":1') || '}' FROM c))) AS x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if raceEnabled && strings.HasPrefix(tc.name, "like within") {
				t.Skip("the race detector slows SQLite past the bound")
			}
			start := time.Now()
			res, err := s.SQLQuery(ctx, sqlScope("cpu"), tc.sql, nil, lim)
			took := time.Since(start)
			t.Logf("%v: rows %v, err %.200v", took.Round(time.Millisecond), res.Rows, err)
			if err != nil && !errors.Is(err, engine.ErrSQLLimit) && !errors.Is(err, engine.ErrSQLDenied) {
				t.Errorf("got %v, want a result, ErrSQLLimit or ErrSQLDenied", err)
			}
			if limit := 5 * time.Second * timeFactor; took > limit {
				t.Errorf("took %v; the bound is %v", took, limit)
			}
		})
	}
	r, err := s.SQLQuery(ctx, sqlScope("cpu"), "SELECT trim('  x  ') AS a, trim('xxaxx', 'x') AS b, replace('a.b', '.', ',') AS c, instr('héllo', 'l') AS d, 'abc' LIKE 'A%' AS e", nil, lim)
	must(t, err)
	if got := fmt.Sprint(r.Rows); got != "[[x a a,b 3 1]]" {
		t.Fatalf("common calls: %s", got)
	}
}

// The LIKE pattern bound really is set on plugin connections.
func TestSQLiteLikePatternLimit(t *testing.T) {
	s := openTestSQLite(t)
	ctx := testCtx(t)
	install(t, ctx, s, "like")
	_, err := s.SQLQuery(ctx, sqlScope("like"), fmt.Sprintf("SELECT 'a' LIKE '%s' AS x", strings.Repeat("a", sqliteLikePatternMax+1)), nil, engine.DefaultLimits.SQL)
	if err == nil {
		t.Fatal("a pattern longer than the bound was accepted")
	}
	var se *sqlite.Error
	t.Logf("refused: %v (%v)", err, errors.As(err, &se))
}

// TestSQLiteFunctionAllowList: plugin SQL calls only the allow-listed
// functions, with at most sqliteFunctionArgMax arguments; the second attack
// round's json_pretty, unhex(X, Y) and 900-argument concat/json_array are
// refused before they run, and everyday functions still work.
func TestSQLiteFunctionAllowList(t *testing.T) {
	s := openTestSQLite(t)
	ctx := testCtx(t)
	install(t, ctx, s, "allow")
	lim := engine.DefaultLimits.SQL
	many := func(fn string, n int) string {
		args := make([]string, n)
		for i := range args {
			args[i] = "printf('%.*c', 900000, '<')"
		}
		return "SELECT length(" + fn + "(" + strings.Join(args, ", ") + ")) AS x"
	}
	for _, tc := range []struct {
		name, sql string
		denied    bool
	}{
		{name: "json_pretty", sql: "SELECT length(json_pretty(printf('%.*c',400,'[')||printf('%.*c',400,']'), printf('%.*c',200000,' '))) AS x", denied: true},
		{name: "unhex two args", sql: "SELECT length(unhex('00'||printf('%.*c',50000,' '), printf('%.*c',50000,'z')||' ')) AS x", denied: true},
		{name: "unknown function", sql: "SELECT sqlite_compileoption_used('THREADSAFE') AS x", denied: true},
		{name: "concat of 900", sql: many("concat", 900), denied: true},
		{name: "json_array of 900", sql: many("json_array", 900), denied: true},
		{name: "json_object of 8 pairs", sql: "SELECT json_object('a',1,'b',2,'c',3,'d',4,'e',5,'f',6,'g',7,'h',8) AS x"},
		{name: "everyday", sql: "SELECT upper(substr('hello', 1, 2)) || printf('%d', count(*)) AS x, round(avg(1.5), 1), coalesce(NULL, 'y'), date('2026-01-02'), json_extract('{\"a\":2}', '$.a')"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.SQLQuery(ctx, sqlScope("allow"), tc.sql, nil, lim)
			switch {
			case tc.denied && err == nil:
				t.Fatal("ran; want it refused")
			case tc.denied:
				t.Logf("refused: %.200v", err)
			case err != nil:
				t.Fatalf("refused: %v", err)
			}
		})
	}
}
