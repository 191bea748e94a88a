package reliability

import (
	"strings"
	"testing"
)

// TestAttackA_OtherPluginsMessages: plugin B, enabled on the same server
// as plugin A and holding discord:send_messages too, edits and deletes the
// message A posted. The host's Discord port checks only the channel's
// server (and for deletes that the bot wrote it, which every plugin's
// message satisfies), so the message is B's to rewrite: a cross-plugin
// integrity break on a server both run on. The secure behaviour: a plugin
// edits and deletes only messages it sent itself (the engine remembers the
// ids each plugin's send_message returned), and the attempt never reaches
// Discord.
func TestAttackA_OtherPluginsMessages(t *testing.T) {
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
			if r, _ := got[op].(string); r == "ok" || !strings.Contains(r, "Error") {
				t.Errorf("%s of another plugin's message %s: %q; want it refused", op, id, r)
			}
		}
		if n := len(w.Discord.ServerIDs) - before; n != 0 {
			t.Errorf("%d of the attacker's actions on another plugin's message reached Discord", n)
		}
		w.goodAnswers(t)
	})
}
