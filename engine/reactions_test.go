package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/maidhq/maid/plugin"
)

// reactionsEnv is the host methods over a message record and a Discord
// that accepts everything, as TestReactionOtherSpellingIsTheSameReaction
// has them; react calls method as pluginID on message 777 (a member's) of
// channel 5, server 1.
func reactionsEnv() func(pluginID, method, emoji string) error {
	ctx := context.Background()
	d := &deps{discord: &countDiscord{}, store: &memMessages{sent: map[Scope][]string{}}}
	return func(pluginID, method, emoji string) error {
		c := hostCall{d: d, s: &supervisor{id: pluginID, pkg: &plugin.Package{}}, scope: callScope{serverID: "1"}}
		p := json.RawMessage(fmt.Sprintf(`{"channel_id": "5", "message_id": "777", "emoji": %q}`, emoji))
		_, err := hostMethods[method].serve(ctx, c, p)
		return err
	}
}

// TestRemovedReactionIsForgotten (attack W): removing a reaction the
// plugin added drops it from the record. Before, plugin a could add 👀 to
// a member's message and remove it at once (nothing shows), and when
// plugin b later put 👀 there itself, a's stale record made b "second": b
// could not remove its own reaction, and a could remove b's.
func TestRemovedReactionIsForgotten(t *testing.T) {
	react := reactionsEnv()
	const eyes = "\U0001F440"
	for _, step := range []struct{ plugin, method string }{
		{"a", "discord.add_reaction"}, {"a", "discord.remove_reaction"}, // a's mark, gone again
		{"b", "discord.add_reaction"}, // b's own reaction, the only one on the message
	} {
		if err := react(step.plugin, step.method, eyes); err != nil {
			t.Fatalf("%s %s: %v", step.plugin, step.method, err)
		}
	}
	if err := react("a", "discord.remove_reaction", eyes); !errors.Is(err, ErrForbidden) {
		t.Errorf("a removed the reaction b put after a had removed its own: err = %v, want ErrForbidden", err)
	}
	if err := react("b", "discord.remove_reaction", eyes); err != nil {
		t.Errorf("b may not remove the reaction it put itself (a's removed one still claims it): %v", err)
	}
}

// TestVariationSelectorIsAnotherReaction (attack W): Discord keys a
// unicode reaction by its exact text: "\u2709" and "\u2709\uFE0F" are
// two reactions on one message. The key keeps U+FE0F, so plugin b may
// remove its own "\u2709" though plugin a put "\u2709\uFE0F" first, and a
// may not remove b's.
func TestVariationSelectorIsAnotherReaction(t *testing.T) {
	react := reactionsEnv()
	if err := react("a", "discord.add_reaction", "\u2709\uFE0F"); err != nil {
		t.Fatal(err)
	}
	if err := react("b", "discord.add_reaction", "\u2709"); err != nil {
		t.Fatal(err)
	}
	if err := react("a", "discord.remove_reaction", "\u2709"); !errors.Is(err, ErrForbidden) {
		t.Errorf("a removed b's reaction \\u2709 (a put only \\u2709\\uFE0F): err = %v, want ErrForbidden", err)
	}
	if err := react("b", "discord.remove_reaction", "\u2709"); err != nil {
		t.Errorf("b may not remove its own reaction \\u2709 because a put \\u2709\\uFE0F: %v", err)
	}
}
