package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/maidhq/maid/plugin"
)

// TestReactionOtherSpellingIsTheSameReaction guards other plugins'
// reactions against another spelling of the same reaction (attack V): the
// record keyed a reaction by the plugin's own spelling of the message id
// and emoji, but Discord takes "<:ok:123>", "ok:123", ":ok:123",
// "a:ok:123" and any name with id 123 as one custom emoji, and "0777" as
// message 777. A plugin spelling another plugin's mark differently was
// never "second", recorded it as its own and removed it. Ids and emoji
// are now keyed canonically, so it is refused.
func TestReactionOtherSpellingIsTheSameReaction(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name             string
		aMessage, aEmoji string // what a reacts with ("" message: a's own message)
		bMessage, bEmoji string // how b spells the same reaction
	}{
		{name: "custom emoji, other spelling", aMessage: "777", aEmoji: "<:ok:123>", bMessage: "777", bEmoji: "ok:123"},
		{name: "custom emoji, leading colon", aMessage: "777", aEmoji: "ok:123", bMessage: "777", bEmoji: ":ok:123"},
		{name: "custom emoji, animated prefix", aMessage: "777", aEmoji: "<a:ok:123>", bMessage: "777", bEmoji: "a:ok:123"},
		{name: "custom emoji, other name, same id", aMessage: "777", aEmoji: "ok:123", bMessage: "777", bEmoji: "zz:123"},
		{name: "custom emoji id with a leading zero", aMessage: "777", aEmoji: "ok:123", bMessage: "777", bEmoji: "ok:0123"},
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
			// a spells its own reaction as b did: still a's to remove.
			if err := react("a", "discord.remove_reaction", bMsg, tc.bEmoji); err != nil {
				t.Fatalf("a removing its own reaction spelled %s on %s: %v", tc.bEmoji, bMsg, err)
			}
		})
	}
}

// TestCanonicalDiscordForms pins the one spelling the engine keys ids and
// reaction emoji by (attack V).
func TestCanonicalDiscordForms(t *testing.T) {
	for _, tc := range []struct{ name, in, id, emoji string }{
		{name: "id", in: "777", id: "777", emoji: "777"},
		{name: "id with leading zeros", in: "000777", id: "777", emoji: "000777"},
		{name: "zero", in: "000", id: "0", emoji: "000"},
		{name: "not an id", in: "7a", id: "7a", emoji: "7a"},
		{name: "empty", in: "", id: "", emoji: ""},
		{name: "custom name:id", in: "ok:123", id: "ok:123", emoji: "custom:123"},
		{name: "custom <:name:id>", in: "<:ok:123>", id: "<:ok:123>", emoji: "custom:123"},
		{name: "custom <a:name:id>", in: "<a:ok:0123>", id: "<a:ok:0123>", emoji: "custom:123"},
		{name: "unicode", in: "\U0001F44D", id: "\U0001F44D", emoji: "\U0001F44D"},
		// Two reactions to Discord (attack W): kept as given.
		{name: "unicode with variation selector", in: "\u2764\uFE0F", id: "\u2764\uFE0F", emoji: "\u2764\uFE0F"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CanonicalID(tc.in); got != tc.id {
				t.Errorf("CanonicalID(%q) = %q, want %q", tc.in, got, tc.id)
			}
			if got := CanonicalEmoji(tc.in); got != tc.emoji {
				t.Errorf("CanonicalEmoji(%q) = %q, want %q", tc.in, got, tc.emoji)
			}
		})
	}
}
