package reliability

import (
	"fmt"
	"testing"
	"time"
)

// TestSQLIsolationPostgres: on the PostgreSQL store a plugin with
// storage:sql cannot read another plugin's table (even knowing its schema
// from the catalog), the host's files, or change its role; the other
// plugin's rows are unchanged.
func TestSQLIsolationPostgres(t *testing.T) {
	dsn := freshPostgres(t)
	nb := backends(t)[0] // the store, not the sandbox, is under test
	dir := t.TempDir()
	lim := testLimits()
	lim.DashboardTimeout = 10 * time.Second // several statements run into the 2 s statement timeout
	r := startEngine(t, nb.b, dsn, dir, lim)
	for _, p := range []string{goodPlugin, hostile("sqlsteal")} {
		installEnabled(t, r.eng, p, "1")
	}
	call := func(plugin, handler string, params any) map[string]any {
		t.Helper()
		return callEngine(t, r.eng, plugin, "1", handler, params)
	}
	const secret = "good's postgres secret 5d2e"
	call("good", "secret_table", map[string]any{"secret": secret})
	// Find where the other plugin's table lives, as an attacker would.
	found := call("h-sqlsteal", "steal", map[string]any{"statements": map[string]string{
		"catalog": "SELECT schemaname || '.' || tablename AS t FROM pg_catalog.pg_tables WHERE tablename = 'secrets'",
	}})
	var targets []string
	if rows, ok := found["catalog"].(map[string]any)["rows"].([]any); ok {
		for _, row := range rows {
			targets = append(targets, fmt.Sprint(row.(map[string]any)["t"]))
		}
	}
	t.Logf("catalog shows: %v (%v)", targets, found["catalog"])
	stmts := map[string]string{
		"unqualified":  "SELECT v FROM secrets",
		"read_file":    "SELECT pg_read_file('/etc/passwd')",
		"copy_program": "COPY (SELECT 1) TO PROGRAM 'id'",
		"set_role":     "SET ROLE postgres",
		"set_session":  "SET SESSION AUTHORIZATION maid",
		"dblink":       "CREATE EXTENSION dblink",
		"pg_shadow":    "SELECT * FROM pg_shadow",
		"lo_import":    "SELECT lo_import('/etc/passwd')",
		"stacked":      "SELECT 1; DROP TABLE secrets",
		"endless_rows": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT x FROM c",
		"sleep":        "SELECT pg_sleep(30)",
	}
	for i, tgt := range targets {
		stmts[fmt.Sprintf("qualified_%d", i)] = "SELECT v FROM " + tgt
		stmts[fmt.Sprintf("delete_%d", i)] = "DELETE FROM " + tgt
	}
	res := call("h-sqlsteal", "steal", map[string]any{"statements": stmts})
	checkRefused(t, res, stmts, secret)
	got := call("good", "secret_table", map[string]any{"secret": "second"})
	if fmt.Sprint(got["rows"]) != fmt.Sprint([]any{secret, "second"}) {
		t.Fatalf("good's table after the attack: %v", got)
	}
}
