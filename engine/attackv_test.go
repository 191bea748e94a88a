package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/maidhq/maid/plugin"
)

// TestAttackV_ReactionOtherForms: the reaction record keys a reaction by
// the plugin's own spelling of the message id and emoji, but Discord (and
// the gateway's checkID/reactionEmoji) accept several spellings of the
// same reaction: "<:ok:123>", "ok:123", ":ok:123" and "a:ok:123" are one
// custom emoji; a snowflake with leading zeros is the same message. A
// plugin that spells another plugin's mark differently is never "second",
// records it as its own and removes the other plugin's reaction.
func TestAttackV_ReactionOtherForms(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name             string
		aMessage, aEmoji string // what a reacts with ("" message: a's own message)
		bMessage, bEmoji string // how b spells the same reaction
	}{
		{name: "custom emoji, other spelling", aMessage: "777", aEmoji: "<:ok:123>", bMessage: "777", bEmoji: "ok:123"},
		{name: "custom emoji, other name, same id", aMessage: "777", aEmoji: "ok:123", bMessage: "777", bEmoji: "zz:123"},
		{name: "member message id with a leading zero", aMessage: "777", aEmoji: "e", bMessage: "0777", bEmoji: "e"},
		{name: "a's own message id with a leading zero", aEmoji: "e", bEmoji: "e"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dc := &countDiscord{}
			d := &deps{discord: dc, store: &memMessages{sent: map[Scope][]string{}}}
			call := func(pluginID string) hostCall {
				return hostCall{d: d, s: &supervisor{id: pluginID, pkg: &plugin.Package{}}, scope: callScope{serverID: "1"}}
			}
			res, err := hostMethods["discord.send_message"].serve(ctx, call("a"), json.RawMessage(`{"channel_id": "5", "content": "poll"}`))
			if err != nil {
				t.Fatal(err)
			}
			own := res.(map[string]any)["id"].(string)
			aMsg, bMsg := tc.aMessage, tc.bMessage
			if aMsg == "" {
				aMsg, bMsg = own, "0"+own
			}
			react := func(plugin, method, msg, emoji string) error {
				p := json.RawMessage(fmt.Sprintf(`{"channel_id": "5", "message_id": %q, "emoji": %q}`, msg, emoji))
				_, err := hostMethods[method].serve(ctx, call(plugin), p)
				return err
			}
			if err := react("a", "discord.add_reaction", aMsg, tc.aEmoji); err != nil {
				t.Fatal(err)
			}
			if err := react("b", "discord.add_reaction", bMsg, tc.bEmoji); err != nil {
				t.Fatal(err)
			}
			// b's remove is the bot's reaction a put first: refused.
			if err := react("b", "discord.remove_reaction", bMsg, tc.bEmoji); !errors.Is(err, ErrForbidden) {
				t.Fatalf("b removed a's reaction %s on %s by spelling it %s on %s: err = %v, want ErrForbidden", tc.aEmoji, aMsg, tc.bEmoji, bMsg, err)
			}
		})
	}
}
