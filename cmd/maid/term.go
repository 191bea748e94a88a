package main

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// termSafe returns text a plugin wrote (its log lines, its Discord
// messages) fit for the operator's terminal: control characters (C0 but
// tab, DEL, C1), bidirectional overrides and bytes that are not UTF-8 are
// written as Go escapes (\x1b, \u202e). Raw, a plugin's stderr could set
// the operator's clipboard (OSC 52), clear the screen and print lines that
// look like maid's own, or reorder what is shown (attack Q1). slog's text
// handler already quotes such values; this is for lines maid prints itself.
func termSafe(s string) string {
	clean := utf8.ValidString(s)
	for _, r := range s {
		if unsafeOnTerminal(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x80 && unsafeOnTerminal(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeOnTerminal(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// termSafeLines is termSafe for text maid formats itself, one line or
// several: its newlines stay, everything else a terminal acts on in the
// plugin text it quotes is escaped.
func termSafeLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = termSafe(l)
	}
	return strings.Join(lines, "\n")
}

// termSafeJSON is termSafe for JSON maid prints (a call's result or error,
// a recording, a summary). encoding/json escapes C0 but leaves DEL, C1 and
// bidi overrides raw; in compact JSON they can stand only inside strings,
// where \uXXXX keeps the JSON valid and equal.
func termSafeJSON(b []byte) []byte {
	// Not UTF-8 takes the slow path too: a raw 0x9b byte reads as U+FFFD
	// above, and a terminal may take it for a one-byte CSI (attack X);
	// ranging over it writes U+FFFD, as encoding/json would.
	if utf8.Valid(b) && !strings.ContainsFunc(string(b), unsafeOnTerminal) {
		return b
	}
	var out strings.Builder
	for _, r := range string(b) {
		if unsafeOnTerminal(r) && r != '\n' {
			fmt.Fprintf(&out, `\u%04x`, r)
			continue
		}
		out.WriteRune(r)
	}
	return []byte(out.String())
}

// unsafeOnTerminal: what a terminal acts on or reorders rather than shows.
func unsafeOnTerminal(r rune) bool {
	switch {
	case r == '\t':
		return false
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0: // C0, DEL, C1 (0x9b is a one-byte CSI)
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069: // bidi embeddings, overrides, isolates
		return true
	}
	return false
}
