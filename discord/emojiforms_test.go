package discord

import (
	"net/url"
	"testing"

	"github.com/maidhq/maid/engine"
)

// TestReactionEmojiAgreesWithEngineKey guards the engine's reaction record
// (attack V): the engine keys a reaction by engine.CanonicalEmoji, so
// every spelling the adapter accepts must send the reaction that key
// names: spellings with one key send one emoji, and the segment sent has
// the same key.
func TestReactionEmojiAgreesWithEngineKey(t *testing.T) {
	for _, tc := range []struct {
		name  string
		forms []string // one reaction on Discord
	}{
		{name: "custom emoji", forms: []string{"ok:123", "<:ok:123>", ":ok:123", "<a:ok:123>", "a:ok:123", "ok:0123"}},
		{name: "unicode emoji", forms: []string{"\U0001F44D"}},
		{name: "keycap", forms: []string{"1\uFE0F\u20E3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sentID string
			for _, f := range tc.forms {
				seg, err := reactionEmoji(f)
				if err != nil {
					t.Fatalf("reactionEmoji(%q): %v", f, err)
				}
				if engine.CanonicalEmoji(seg) != engine.CanonicalEmoji(f) {
					t.Errorf("%q is sent as %q: keys %q and %q differ", f, seg, engine.CanonicalEmoji(f), engine.CanonicalEmoji(seg))
				}
				if name, id, ok := engine.CustomEmoji(f); ok {
					if seg != name+":"+id {
						t.Errorf("%q is sent as %q, want %s:%s (the id the engine keys)", f, seg, name, id)
					}
					if sentID != "" && id != sentID {
						t.Errorf("%q sends emoji %s, the others %s", f, id, sentID)
					}
					sentID = id
					if url.PathEscape(seg) != seg {
						t.Errorf("custom emoji %q sent as %q needs escaping", f, seg)
					}
				}
			}
		})
	}
}
