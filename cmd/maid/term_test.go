package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/maidhq/maid/engine"
)

func TestTermSafe(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"plain", "hello, wörld\tok", "hello, wörld\tok"},
		{"OSC 52 clipboard", "\x1b]52;c;Y3VybA==\x07", `\x1b]52;c;Y3VybA==\x07`},
		{"clear screen", "\x1b[2J\x1b[Hmaid: ok", `\x1b[2J\x1b[Hmaid: ok`},
		{"carriage return overwrites", "bad\rgood", `bad\x0dgood`},
		{"DEL and C1 CSI", "a\x7fb\u009b2J", `a\x7fb\u009b2J`},
		{"bidi override", "abc\u202edcba", `abc\u202edcba`},
		{"not UTF-8", "a\xffb", `a\xffb`},
		{"replacement character is text", "a\ufffdb", "a\ufffdb"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := termSafe(tt.in); got != tt.want {
				t.Errorf("termSafe(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestPluginLinesEscapedOnTerminal (attack Q1): `maid call -v` (and `maid
// dev`, which prints the same way) shows a plugin's log lines with their
// control sequences escaped, so a plugin cannot set the operator's
// clipboard (OSC 52) or clear the screen and forge maid's output.
func TestPluginLinesEscapedOnTerminal(t *testing.T) {
	backend := "process" // the printing is the host's, the same on every backend
	if slices.Contains(backendsForTest(t), "wasm") {
		backend = "wasm"
	}
	dir := t.TempDir()
	for name, body := range map[string]string{
		"manifest.json": `{"id": "esc", "name": "Esc", "version": "1.0.0", "script": "__main__.py"}`,
		"__main__.py": `import sys
from maid_sdk import Plugin

plugin = Plugin()


@plugin.on_dashboard("go")
def go(ctx, params):
    sys.stderr.write("\x1b]52;c;Y3VybCBldmlsIHwgc2g=\x07\x1b[2J\x1b[Hmaid: all checks passed\n")
    sys.stderr.flush()
    return {"ok": True}


plugin.run()
`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"call", "--backend", backend, "-v", dir, "dashboard.go"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stdout %q, stderr:\n%q", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stderr.String(), `\x1b[2J\x1b[Hmaid: all checks passed`) {
		t.Fatalf("the plugin's line is not in the output, escaped: %q", stderr.String())
	}
	if strings.ContainsAny(stderr.String(), "\x1b\x07") {
		t.Errorf("the plugin's control sequences reach the terminal raw: %q", stderr.String())
	}
}

// FuzzTermSafe: whatever a plugin writes, what reaches the terminal is
// UTF-8 with nothing a terminal acts on, and clean text is left alone.
func FuzzTermSafe(f *testing.F) {
	for _, s := range []string{"plain", "\x1b]52;c;x\x07", "a\xffb", "\u202e", "\u009b2J", "tab\there"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := termSafe(in)
		if !utf8.ValidString(out) {
			t.Fatalf("termSafe(%q) = %q: not UTF-8", in, out)
		}
		for _, r := range out {
			if unsafeOnTerminal(r) {
				t.Fatalf("termSafe(%q) = %q: keeps %U", in, out, r)
			}
		}
		clean := utf8.ValidString(in) && !strings.ContainsFunc(in, unsafeOnTerminal)
		if clean && out != in {
			t.Fatalf("termSafe(%q) = %q: clean text changed", in, out)
		}
	})
}

// TestTermSafeJSON: JSON maid prints keeps its meaning (decodes to the
// same value) with DEL, C1 and bidi controls written as \u escapes.
func TestTermSafeJSON(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"clean", `{"a":"b"}`, `{"a":"b"}`},
		{"C1 CSI", "{\"a\":\"\u009b2J\"}", `{"a":"\u009b2J"}`},
		{"DEL", "{\"a\":\"x\x7f\"}", `{"a":"x\u007f"}`},
		{"bidi override", "[\"\u202eabc\"]", `["\u202eabc"]`},
		// Not UTF-8, and nothing else to escape (attack X).
		{"raw C1 byte", "{\"a\":\"x\x9b2J\"}", "{\"a\":\"x\ufffd2J\"}"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := string(termSafeJSON([]byte(tt.in)))
			if got != tt.want {
				t.Fatalf("termSafeJSON(%q) = %q, want %q", tt.in, got, tt.want)
			}
			var a, b any
			if err := json.Unmarshal([]byte(tt.in), &a); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(got), &b); err != nil || !reflect.DeepEqual(a, b) {
				t.Fatalf("escaped JSON %q decodes to %v (%v), want %v", got, b, err, a)
			}
		})
	}
}

// TestDevReloadErrorEscaped (attack V): `maid dev` prints a failed
// reload's error, and a StartError carries the plugin's stderr lines as
// written; they reach the terminal escaped, like its log lines.
func TestDevReloadErrorEscaped(t *testing.T) {
	var buf bytes.Buffer
	w := &devWatcher{term: &devTerm{w: &buf}, id: "esc"}
	w.problems(&engine.StartError{Err: errors.New("exit status 1"), Output: []string{"\x1b]52;c;Y3VybCBldmlsIHwgc2g=\x07\x1b[2J\x1b[Hmaid dev: esc loaded (#2)"}})
	if strings.ContainsAny(buf.String(), "\x1b\x07") || !strings.Contains(buf.String(), `\x1b[2J`) {
		t.Fatalf("a plugin's start output on the terminal: %q, want it escaped", buf.String())
	}
}

// TestCallErrorEscaped (attack V): `maid call` prints a failed call's
// error as JSON, which encoding/json leaves with C1 (U+009B is a CSI) and
// bidi overrides raw; the plugin's exception message reaches the terminal
// escaped, and the JSON still says the same.
func TestCallErrorEscaped(t *testing.T) {
	backend := "process"
	if slices.Contains(backendsForTest(t), "wasm") {
		backend = "wasm"
	}
	dir := t.TempDir()
	for name, body := range map[string]string{
		"manifest.json": `{"id": "esc", "name": "Esc", "version": "1.0.0", "script": "__main__.py"}`,
		"__main__.py": `from maid_sdk import Plugin

plugin = Plugin()


@plugin.on_dashboard("go")
def go(ctx, params):
    raise ValueError("\u009b2J\u202eok :skcehc lla")


plugin.run()
`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"call", "--backend", backend, dir, "dashboard.go"}, &stdout, &stderr); code == 0 {
		t.Fatalf("the call succeeded: %q", stdout.String())
	}
	for _, out := range []string{stdout.String(), stderr.String()} {
		if strings.ContainsFunc(out, func(r rune) bool { return r != '\n' && unsafeOnTerminal(r) }) {
			t.Fatalf("the plugin's error reaches the terminal with C1 or bidi controls raw: %q", out)
		}
	}
	var got struct {
		Error struct{ Message string } `json:"error"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil || !strings.Contains(got.Error.Message, "\u009b2J\u202eok") {
		t.Fatalf("the error JSON %q: %+v, %v; want the plugin's message, decoded unchanged", stdout.String(), got, err)
	}
}

// TestRecordListEscaped (attack W): `maid plugin record list` prints each
// recording's summary, whose "what" names the plugin's handler (a plugin
// names its handlers itself), with DEL, C1 and bidi controls escaped like
// everything else maid prints of a plugin's.
func TestRecordListEscaped(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dsn := "sqlite://" + filepath.Join(dir, "maid.db")
	st, err := openStore(ctx, dsn, dir, slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutPlugin(ctx, engine.PluginRecord{ID: "p", Version: "1.0.0", Archive: []byte("zip")}); err != nil {
		t.Fatal(err)
	}
	evil := "dashboard x\u009b2J\u009b]52;c;AAAA\u009c\u202eevil\u007f"
	info := engine.RecordingInfo{ID: "r1", PluginID: "p", ServerID: "1", Time: time.Now(), What: evil, Failed: true, Bytes: 2}
	if err := st.PutRecording(ctx, info, []byte(`{}`), 20); err != nil {
		t.Fatal(err)
	}
	st.Close()
	var out, errb bytes.Buffer
	code := runPluginRecord(ctx, []string{"--db", dsn, "--data-dir", dir, "--server", "1", "p", "list"}, &out, &errb)
	if code != 0 {
		t.Fatalf("record list: exit %d, stderr %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "evil") {
		t.Fatalf("record list printed %q, want the recording", out.String())
	}
	if strings.ContainsFunc(out.String(), func(r rune) bool { return r != '\n' && unsafeOnTerminal(r) }) {
		t.Errorf("maid plugin record list printed a plugin's handler name raw to the terminal: %q", out.String())
	}
}
