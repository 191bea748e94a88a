package store

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/maidhq/maid/engine"
)

// TestPostgresStuckBackend: a statement PostgreSQL cannot interrupt (a
// 2-argument ltrim of long strings loops without checking for interrupts,
// so neither statement_timeout nor pg_cancel_backend stops it) returns to
// the plugin shortly after its timeout, as a limit error, instead of when
// the server finishes; after pgMaxStuck such backends the plugin's
// statements are refused until they end, so one plugin cannot hold more of
// the server than that. The statement check is bypassed (checked=false):
// the bound must hold for calls the check does not know about.
func TestPostgresStuckBackend(t *testing.T) {
	s := openTestPostgres(t)
	ctx := testCtx(t)
	install(t, ctx, s, "spin")
	lim := engine.SQLLimits{Timeout: time.Second, MaxRows: 10, MaxBytes: 1 << 20, MaxDBBytes: 64 << 20}
	// The spin is sized from the server's speed now: the two backends must
	// still run when the third call comes (a few seconds in) and be done
	// within the wait at the end, and this machine's speed moves several
	// fold with load. ltrim's cost is quadratic in the length.
	spinLen, spinFor := calibrateSpin(t, s, 30*time.Second)
	spin := fmt.Sprintf("SELECT length(ltrim(repeat('a', %d), repeat('b', %d) || 'a')) AS x", spinLen, spinLen)
	for i := range pgMaxStuck {
		start := time.Now()
		_, _, err := s.sql.run(ctx, sqlScope("spin"), spin, nil, lim, true, false)
		took := time.Since(start)
		t.Logf("call %d: %v, err %v", i, took.Round(time.Millisecond), err)
		if !errors.Is(err, engine.ErrSQLLimit) {
			t.Fatalf("call %d: got %v, want ErrSQLLimit", i, err)
		}
		if bound := lim.Timeout + pgStallGrace + 2*time.Second; took > bound {
			t.Fatalf("call %d took %v; the bound is %v", i, took, bound)
		}
	}
	start := time.Now()
	_, err := s.SQLQuery(ctx, sqlScope("spin"), "SELECT 1 AS one", nil, lim)
	if !errors.Is(err, engine.ErrSQLLimit) {
		t.Fatalf("with %d stuck backends: got %v, want ErrSQLLimit", pgMaxStuck, err)
	}
	t.Logf("refused in %v: %v", time.Since(start).Round(time.Millisecond), err)
	// Once the server is done with them, the plugin runs again. The wait
	// allows the machine to get several times slower than at calibration.
	wait := max(2*time.Minute, 8*spinFor)
	deadline := time.Now().Add(wait)
	for {
		r, err := s.SQLQuery(ctx, sqlScope("spin"), "SELECT 1 AS one", nil, lim)
		if err == nil {
			if len(r.Rows) != 1 {
				t.Fatalf("after the stuck backends ended: %v", r.Rows)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still refused after %v: %v", wait, err)
		}
		time.Sleep(time.Second)
	}
}

// TestPostgresSQLTextAndCatalog: functions that run SQL given as text are
// refused (through them the lexer's other denials were bypassed: large
// objects, another plugin's advisory lock, set_config), COMMENT is refused,
// and DDL that stores large text in the catalog (a view's query, a column
// default, a CHECK constraint) counts against the database size limit.
func TestPostgresSQLTextAndCatalog(t *testing.T) {
	s := openTestPostgres(t)
	ctx := testCtx(t)
	install(t, ctx, s, "cat")
	lim := engine.SQLLimits{Timeout: 5 * time.Second, MaxRows: 100, MaxBytes: 1 << 20, MaxDBBytes: 4 << 20}
	_, err := s.SQLExec(ctx, sqlScope("cat"), "CREATE TABLE t0 (a int)", nil, lim)
	must(t, err)
	for _, q := range []string{
		"SELECT query_to_xml('select lo_from_bytea(0, ''\\x00''::bytea)', true, false, '')::text AS x",
		"SELECT query_to_xml('select pg_advisory_lock(hashtext(''maid:plugin-sql:victim''))', true, false, '') AS x",
		"SELECT query_to_xml_and_xmlschema('select set_config(''work_mem'', ''8GB'', false)', true, false, '') AS x",
		"SELECT ts_stat('select set_config(''work_mem'', ''8GB'', false)::tsvector') AS x",
		"SELECT ts_rewrite('a'::tsquery, 'select ''a''::tsquery, ''b''::tsquery') AS x",
		"SELECT cursor_to_xml('c', 1, true, false, '') AS x",
		"SELECT table_to_xml('t0', true, false, '') AS x",
		"SELECT pg_notify('maid', 'x') AS x",
		"COMMENT ON TABLE t0 IS 'x'",
	} {
		_, err := s.SQLQuery(ctx, sqlScope("cat"), q, nil, lim)
		if !errors.Is(err, engine.ErrSQLDenied) {
			t.Errorf("%s: got %v, want ErrSQLDenied", q, err)
		}
	}
	var lo int
	must(t, s.rdb.GetContext(ctx, &lo, "SELECT count(*) FROM pg_largeobject_metadata"))
	if lo != 0 {
		t.Errorf("%d large objects were created", lo)
	}

	big := func() string {
		b := make([]byte, 150000)
		rand.Read(b)
		return hex.EncodeToString(b) // 300 KB that does not compress
	}
	for _, kind := range []string{"view", "default", "check", "added column"} {
		var refused error
		for i := range 40 {
			var q string
			switch kind {
			case "view":
				q = fmt.Sprintf("CREATE VIEW v%d AS SELECT '%s'::text AS x", i, big())
			case "default":
				q = fmt.Sprintf("CREATE TABLE d%d (x text DEFAULT '%s')", i, big())
			case "check":
				q = fmt.Sprintf("CREATE TABLE k%d (x text CHECK (x <> '%s'))", i, big())
			case "added column":
				// Its default is stored in pg_attribute.attmissingval (which
				// has no TOAST: PostgreSQL refuses large ones itself).
				q = fmt.Sprintf("ALTER TABLE t0 ADD COLUMN m%d text DEFAULT '%s'", i, big())
			}
			if _, err := s.SQLExec(ctx, sqlScope("cat"), q, nil, lim); err != nil {
				refused = err
				t.Logf("%s: refused after %d statements: %.200v", kind, i, err)
				break
			}
		}
		if !errors.Is(refused, engine.ErrSQLLimit) {
			t.Errorf("%s: 40 statements of 300 KB in the catalog under a 4 MiB limit: got %v, want ErrSQLLimit", kind, refused)
		}
		if kind == "added column" {
			continue
		}
		for _, drop := range []string{"DROP VIEW IF EXISTS %s", "DROP TABLE IF EXISTS %s"} {
			for i := range 40 {
				name := map[string]string{"view": "v", "default": "d", "check": "k"}[kind] + fmt.Sprint(i)
				if (kind == "view") == (drop[5] == 'V') {
					s.SQLExec(ctx, sqlScope("cat"), fmt.Sprintf(drop, name), nil, lim)
				}
			}
		}
	}
}

// calibrateSpin times a small uninterruptible ltrim on the server and
// returns the length whose ltrim should take about want at that speed, and
// how long it should take (at least 10 s: it must outlast two calls'
// timeouts and grace even if the machine gets faster).
func calibrateSpin(t *testing.T, s *Store, want time.Duration) (int, time.Duration) {
	t.Helper()
	const n0 = 10000
	start := time.Now()
	var x int
	must(t, s.rdb.GetContext(testCtx(t), &x, fmt.Sprintf("SELECT length(ltrim(repeat('a', %d), repeat('b', %d) || 'a'))", n0, n0)))
	t0 := max(time.Since(start), time.Millisecond)
	n := int(float64(n0) * math.Sqrt(float64(want)/float64(t0)))
	n = min(max(n, 30000), 400000)
	predicted := time.Duration(float64(t0) * float64(n) * float64(n) / (n0 * n0))
	t.Logf("ltrim of %d took %v: spinning %d, about %v", n0, t0, n, predicted.Round(time.Second))
	return n, max(predicted, 10*time.Second)
}
