package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReplay(t *testing.T) {
	welcome := filepath.Join("..", "..", "sdk", "examples", "welcome")
	dir := t.TempDir()
	events := filepath.Join(dir, "events.jsonl")
	os.WriteFile(events, []byte(`{"type": "message_create", "discord_srv_id": "7", "data": {"content": "hi", "author": {"id": "11"}}}
# a comment
{"type": "message_create", "data": {"content": "yo", "author": {"id": "12"}}}
{"type": "guild_member_add", "discord_srv_id": "7", "data": {"user": {"id": "13"}}}
{"type": "message_create", "discord_srv_id": "8", "data": {"content": "elsewhere", "author": {"id": "14"}}}
`), 0o644)
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("{\"type\": \"message_create\"}\n{\"type\": \"Bad Type\"}\n"), 0o644)

	for _, backend := range backendsForTest(t) {
		t.Run(backend, func(t *testing.T) {
			db := "sqlite://" + filepath.Join(t.TempDir(), "maid.db")
			for _, tc := range []struct {
				name       string
				args       []string
				wantCode   int
				events     int
				routed     int64
				wantStderr string
			}{
				// Server 7's welcome plugin gets its three events; server 8
				// has no plugin. Twice over with --repeat.
				{name: "paced, repeated", args: []string{"--server", "7", "--plugin", welcome, "--rate", "200", "--repeat", "2", events}, events: 8, routed: 6},
				{name: "plugins from the store", args: []string{"--server", "7", events}, events: 4, routed: 3},
				{name: "bad line", args: []string{bad}, wantCode: 1},
				{name: "usage", args: []string{"--rate", "-1", events}, wantCode: 2},
			} {
				t.Run(tc.name, func(t *testing.T) {
					var stdout, stderr bytes.Buffer
					args := append([]string{"replay", "--backend", backend, "--db", db, "--data-dir", filepath.Join(dir, "data")}, tc.args...)
					code := run(args, &stdout, &stderr)
					if code != tc.wantCode {
						t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, stdout.String(), stderr.String())
					}
					if code == 1 && !strings.Contains(stdout.String(), "events line 2") {
						t.Errorf("error %s does not name the line", stdout.String())
					}
					if code != 0 {
						return
					}
					var sum replaySummary
					if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
						t.Fatalf("summary %s: %v", stdout.String(), err)
					}
					if sum.Events != tc.events || sum.Routed != tc.routed || sum.Failed != 0 || sum.Overflow != 0 {
						t.Errorf("summary %+v, want %d events, %d routed", sum, tc.events, tc.routed)
					}
				})
			}
		})
	}
}

// TestDataDirHoldsPluginSQL: --data-dir holds the plugins' SQLite
// databases, as its help says, not the main database's directory.
func TestDataDirHoldsPluginSQL(t *testing.T) {
	plugin := filepath.Join(t.TempDir(), "sqlwriter")
	os.MkdirAll(plugin, 0o755)
	os.WriteFile(filepath.Join(plugin, "manifest.json"), []byte(`{"id": "sqlwriter", "name": "x", "version": "1.0.0", "script": "__main__.py", "capabilities": ["storage:sql"]}`), 0o644)
	os.WriteFile(filepath.Join(plugin, "__main__.py"), []byte(`from maid_sdk import Plugin
plugin = Plugin()

@plugin.on_event("message_create")
def write(ctx, event):
    ctx.sql.execute("CREATE TABLE IF NOT EXISTS seen (content TEXT)")
    ctx.sql.execute("INSERT INTO seen VALUES (?)", [event["content"]])

plugin.run()
`), 0o644)
	events := filepath.Join(t.TempDir(), "events.jsonl")
	os.WriteFile(events, []byte(`{"type": "message_create", "discord_srv_id": "7", "data": {"content": "hi", "author": {"id": "11"}}}`+"\n"), 0o644)
	dbDir, dataDir := t.TempDir(), t.TempDir()
	var stdout, stderr bytes.Buffer
	args := []string{"replay", "--backend", "process", "--db", "sqlite://" + filepath.Join(dbDir, "maid.db"), "--data-dir", dataDir, "--server", "7", "--plugin", plugin, events}
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
	}
	inData, _ := filepath.Glob(filepath.Join(dataDir, "plugin-sql", "sqlwriter", "*.db"))
	inDB, _ := filepath.Glob(filepath.Join(dbDir, "plugin-sql", "*", "*.db"))
	if len(inData) != 1 || len(inDB) != 0 {
		t.Fatalf("plugin SQL databases: %v under --data-dir, %v beside the main database; want one under --data-dir only", inData, inDB)
	}
}
