package engine

import (
	"regexp"
	"strings"
)

// Discord accepts several spellings of one id or emoji, but the message
// record (MessageStore) compares keys as text: the engine keeps and
// checks one canonical spelling, so another spelling is never another
// plugin's unrecorded reaction or an unrecorded message (attack V).

// CanonicalID is a Discord id as Discord spells it: an id of digits loses
// its leading zeros ("0777" is message 777 to Discord). Anything else is
// returned as given; the Discord port refuses it.
func CanonicalID(id string) string {
	if id == "" || strings.Trim(id, "0123456789") != "" {
		return id
	}
	if t := strings.TrimLeft(id, "0"); t != "" {
		return t
	}
	return "0"
}

var customEmojiRe = regexp.MustCompile(`^<?a?:?([A-Za-z0-9_~-]{1,32}):([0-9]{1,20})>?$`)

// CustomEmoji parses a custom emoji the way plugins may spell it ("name:id",
// ":name:id", "a:name:id", "<:name:id>", "<a:name:id>"), the id canonical.
// The Discord adapter sends what it returns, so the engine's key and the
// reaction on Discord are the same emoji.
func CustomEmoji(e string) (name, id string, ok bool) {
	m := customEmojiRe.FindStringSubmatch(e)
	if m == nil {
		return "", "", false
	}
	return m[1], CanonicalID(m[2]), true
}

// CanonicalEmoji is the one spelling of a reaction's emoji the engine keys
// reactions by: a custom emoji by its id alone (Discord reacts with the
// emoji of that id whatever name is given), a unicode emoji exactly as
// given. Discord keys a unicode reaction by its exact text: "\u2709" and
// "\u2709\uFE0F" are two reactions on one message, so stripping U+FE0F
// (tried first) merged two reactions and let one plugin remove the other's
// (attack W).
func CanonicalEmoji(e string) string {
	if _, id, ok := CustomEmoji(e); ok {
		return "custom:" + id
	}
	return e
}
