package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCallPrintsActions: `maid call` on the README's hello plugin prints
// the result on stdout and every Discord action with its outcome on
// stderr: a send to a channel of the simulated server is sent, one to a
// channel that does not exist fails, and both are shown.
func TestCallPrintsActions(t *testing.T) {
	events := filepath.Join(t.TempDir(), "events.jsonl")
	os.WriteFile(events, []byte(`{"type":"message_create","data":{"content":"!hello","channel_id":"100000000000000101","author":{"id":"9"}}}
{"type":"message_create","data":{"content":"!hello","channel_id":"5","author":{"id":"9"}}}
`), 0o644)
	var stdout, stderr bytes.Buffer
	code := run([]string{"call", "--backend", "process", "--events", events, "testdata/hello", "dashboard.get_count"}, &stdout, &stderr)
	if code != 0 || strings.TrimSpace(stdout.String()) != `{"value":2}` {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, stdout.String(), stderr.String())
	}
	out := stderr.String()
	for _, want := range []string{
		`discord.send_message {"channel_id":"100000000000000101","content":"Hello #1","server":"100000000000000001"} → ok: message `,
		`discord.send_message {"channel_id":"5","content":"Hello #2","server":"100000000000000001"} → failed: `,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stderr lacks %q:\n%s", want, out)
		}
	}
}

// TestReplayPrintsActions: `maid replay` reports the plugins' Discord
// actions, with their outcomes, in its summary.
func TestReplayPrintsActions(t *testing.T) {
	dir := t.TempDir()
	events := filepath.Join(dir, "events.jsonl")
	os.WriteFile(events, []byte(`{"type":"message_create","data":{"content":"!hello","channel_id":"100000000000000101","author":{"id":"9"}}}
`), 0o644)
	var stdout, stderr bytes.Buffer
	code := run([]string{"replay", "--backend", "process", "--db", "sqlite://" + filepath.Join(dir, "maid.db"), "--data-dir", filepath.Join(dir, "data"),
		"--plugin", "testdata/hello", events}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), `"actions":["discord.send_message {\"channel_id\":\"100000000000000101\",\"content\":\"Hello #1\"`) {
		t.Fatalf("the summary lacks the action: %s", stdout.String())
	}
}
