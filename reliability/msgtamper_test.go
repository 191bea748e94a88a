package reliability

import (
	"strings"
	"testing"
)

// TestPluginCannotTouchOtherPluginsMessages guards the rule that a plugin
// edits and deletes only messages it sent itself (attack Q1): plugin B,
// enabled on the same server as plugin A and holding
// discord:send_messages too, learns the id of A's message (as it would
// from message_create) and tries to edit and delete it. To Discord every
// plugin's message is the bot's, so only the engine's record of what each
// plugin's send_message returned tells them apart: B is refused before
// anything reaches Discord, and A still edits its own message.
func TestPluginCannotTouchOtherPluginsMessages(t *testing.T) {
	oneByOne(t, backends(t), func(t *testing.T, nb namedBackend) {
		w := startWorld(t, nb.b, testLimits())
		victim := w.Install(t, hostile("msgvictim"), "1")
		attacker := w.Install(t, hostile("msgtamper"), "1")
		sent := w.Call(t, victim, "1", "announce", map[string]any{"channel": "500"})
		id, _ := sent["id"].(string)
		if id == "" {
			t.Fatalf("announce: %v", sent)
		}
		before := len(w.Discord.ServerIDs)
		got := w.Call(t, attacker, "1", "tamper", map[string]any{"channel": "500", "id": id})
		for _, op := range []string{"edit", "delete"} {
			if r, _ := got[op].(string); r == "ok" || !strings.Contains(r, "a plugin may edit and delete only messages it sent") {
				t.Errorf("%s of another plugin's message %s: %q; want it refused naming the rule", op, id, r)
			}
		}
		if n := len(w.Discord.ServerIDs) - before; n != 0 {
			t.Errorf("%d of the attacker's actions on another plugin's message reached Discord", n)
		}
		if got := w.Call(t, victim, "1", "edit", map[string]any{"channel": "500", "id": id}); got["edit"] != "ok" {
			t.Errorf("the sender editing its own message %s: %v", id, got)
		}
		w.goodAnswers(t)
	})
}
