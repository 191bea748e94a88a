package engine_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/maidhq/maid/engine/enginetest"
)

// TestDataVersion: a plugin's writes on a server move its data version
// there and nowhere else, reads do not, and a member's message (a built-in
// metric) moves every plugin's version on that server; the bot's own
// messages are not counted in the messages metric.
func TestDataVersion(t *testing.T) {
	env := bridgeEnv(t)
	ctx := context.Background()
	id := env.Install(t, bridgePlugin(t, "versioned", false, ""), "A", "B")
	a0, b0 := env.Engine.DataVersion(id, "A"), env.Engine.DataVersion(id, "B")
	env.Call(t, id, "A", "note", map[string]any{"add": "x"})
	a1 := env.Engine.DataVersion(id, "A")
	if a1 == a0 || env.Engine.DataVersion(id, "B") != b0 {
		t.Fatalf("after a write on A: A %d→%d, B %d→%d", a0, a1, b0, env.Engine.DataVersion(id, "B"))
	}
	env.Call(t, id, "A", "note", map[string]any{}) // CREATE IF NOT EXISTS is a write; then only reads
	a2 := env.Engine.DataVersion(id, "A")
	if _, err := env.Engine.QueryMetric(ctx, "A", id, "messages", "7d"); err != nil {
		t.Fatal(err)
	}
	if env.Engine.DataVersion(id, "A") != a2 {
		t.Fatal("a read moved the version")
	}

	bot := enginetest.Message("A", "42", "the bot's reply")
	var m map[string]any
	_ = json.Unmarshal(bot.Data, &m)
	m["author"] = map[string]any{"id": "42", "username": "maid", "bot": true}
	bot.Data, _ = json.Marshal(m)
	env.Dispatch(t, bot)
	if env.Engine.DataVersion(id, "A") != a2 {
		t.Fatal("the bot's own message moved the version (it was counted)")
	}
	env.Dispatch(t, enginetest.Message("A", "7", "a member's message"))
	if env.Engine.DataVersion(id, "A") == a2 {
		t.Fatal("a member's message did not move the version")
	}
	q, err := env.Engine.QueryMetric(ctx, "A", id, "messages", "7d")
	if err != nil {
		t.Fatal(err)
	}
	if q.Total != 1 {
		t.Fatalf("messages metric = %v, want 1 (the member's, not the bot's)", q.Total)
	}
}
