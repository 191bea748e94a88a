package engine

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// shapeName is a distinct letters-only word for each i: host lines that
// differ only in numbers are one shape and fold.
func shapeName(i int) string {
	b := []byte{'a' + byte(i%26)}
	for i /= 26; i > 0; i /= 26 {
		b = append(b, 'a'+byte(i%26))
	}
	return string(b)
}

// TestLogRingFoldsRepeats: a paced flood of one refusal (under the rate
// limit, 50 a second for 40 s) cannot evict the record of another: repeats
// of a shape fold into its first line with a count, and every distinct
// host warning reaches the operator's log, rate limited. (Issue 14 attack,
// position 1 finding 5: refused sends evicted an ATTACH denial from the
// 500-line ring, the only record of it.)
func TestLogRingFoldsRepeats(t *testing.T) {
	const attach = "denied: sql: ATTACH statements are not allowed: sql statement not allowed"
	for _, tc := range []struct {
		name      string
		flood     func(i int) string
		wantHost  int // host lines in the ring
		wantCount string
		repeats   int
	}{
		{name: "same text", flood: func(int) string { return "denied: discord.send_message needs capability \"discord:send_messages\"" }, wantHost: 2, wantCount: "and 1999 more like it", repeats: 1999},
		{name: "numbers and quoted values vary", flood: func(i int) string {
			return "limit: discord.send_message: content of channel " + itoa(1000+i) + " in \"" + shapeName(i) + "\" is over 2000 characters"
		}, wantHost: 2, wantCount: "and 1999 more like it", repeats: 1999},
		// The plugin picks a refused statement's first word: 7 more
		// distinct lines of the ATTACH's kind, then one line counting the
		// other 1,992 (its first and 1,991 more).
		{name: "words vary", flood: func(i int) string {
			return "denied: sql: " + strings.ToUpper(shapeName(i)) + " statements are not allowed: sql statement not allowed"
		}, wantHost: 9, wantCount: `more host lines starting "denied: sql:", with other texts (and 1992 more like it`, repeats: 1992},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var oplog bytes.Buffer
			r := newLogRing(500, 50, 2000)
			r.toLog(slog.New(slog.NewTextHandler(&oplog, nil)), "p1")
			now := time.Unix(1000, 0)
			r.add(now, "warning", "host", attach)
			for i := range 2000 {
				now = now.Add(20 * time.Millisecond)
				r.add(now, "warning", "host", tc.flood(i))
			}
			got := r.tail(0)
			if len(got) != tc.wantHost {
				t.Fatalf("%d host lines, want %d:\n%v", len(got), tc.wantHost, got)
			}
			if got[0].Text != attach {
				t.Errorf("the ATTACH denial was evicted: first line %q", got[0].Text)
			}
			last := got[len(got)-1]
			if !strings.Contains(last.Text, tc.wantCount) || last.Repeats != tc.repeats || !last.Last.Equal(now) {
				t.Errorf("flood line %q (repeats %d, last %v), want %q", last.Text, last.Repeats, last.Last, tc.wantCount)
			}
			if !strings.Contains(oplog.String(), "ATTACH statements are not allowed") || !strings.Contains(oplog.String(), "plugin=p1") {
				t.Errorf("the operator's log lacks the ATTACH denial:\n%s", oplog.String())
			}
		})
	}
}

// TestLogRingOperatorLogRate: host warnings reach the operator's log at
// most opLogRate a second per plugin, then one summary of the rest; info
// lines and the plugin's own lines never do.
func TestLogRingOperatorLogRate(t *testing.T) {
	var oplog bytes.Buffer
	r := newLogRing(500, 1000, 2000)
	r.toLog(slog.New(slog.NewTextHandler(&oplog, nil)), "p1")
	now := time.Unix(1000, 0)
	r.add(now, "info", "sdk", "plugin line")
	r.add(now, "info", "host", "instance started")
	for i := range 500 {
		r.add(now.Add(time.Duration(i)*time.Microsecond), "warning", "host", "denied: "+shapeName(i))
	}
	r.add(now.Add(2*time.Second), "error", "host", "protocol error")
	out := oplog.String()
	if n := strings.Count(out, `msg="plugin host warning"`); n != opLogRate+1 {
		t.Errorf("%d warnings in the operator's log, want %d:\n%s", n, opLogRate+1, out)
	}
	if !strings.Contains(out, "suppressed=490") || !strings.Contains(out, "protocol error") {
		t.Errorf("no summary of 490 or no later error:\n%s", out)
	}
	if strings.Contains(out, "plugin line") || strings.Contains(out, "instance started") {
		t.Errorf("info lines reached the operator's log:\n%s", out)
	}
}

// TestLogRingHostLinesBounded: lines the host writes about a plugin (one
// per refused host call, which the plugin can trigger at will) cannot evict
// the plugin's own earlier lines, and are themselves rate limited with a
// summary of what was dropped.
func TestLogRingHostLinesBounded(t *testing.T) {
	for _, tc := range []struct {
		name      string
		floods    int // host lines written in the same second
		wantHost  int // host lines kept, summaries excluded
		wantTotal int // evidence, kept host lines, summary, "after"
	}{
		{name: "under budget", floods: 10, wantHost: 10, wantTotal: 14},
		{name: "2000 refusals", floods: 2000, wantHost: 50, wantTotal: 55},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newLogRing(100, 50, 200)
			now := time.Unix(1000, 0)
			for _, s := range []string{"first", "second", "third"} {
				r.add(now, "info", "sdk", "evidence "+s)
			}
			for i := 0; i < tc.floods; i++ {
				// Distinct kinds: repeats of one shape fold, and one kind's
				// different lines are capped (TestLogRingFoldsRepeats).
				r.add(now.Add(time.Duration(i)*time.Microsecond), "warning", "host", "denied: "+shapeName(i)+" needs capability")
			}
			// The next second writes the summary of what was suppressed.
			r.add(now.Add(2*time.Second), "info", "sdk", "after")
			got := r.tail(0)
			var evidence, host, summaries int
			for _, l := range got {
				switch {
				case strings.HasPrefix(l.Text, "evidence "):
					evidence++
				case strings.HasPrefix(l.Text, "denied: "):
					host++
				case strings.Contains(l.Text, "suppressed"):
					summaries++
				}
			}
			if evidence != 3 {
				t.Errorf("%d of the plugin's 3 earlier lines survive:\n%v", evidence, got)
			}
			if host != tc.wantHost {
				t.Errorf("%d host lines kept, want %d", host, tc.wantHost)
			}
			if tc.floods > 50 && summaries != 1 {
				t.Errorf("%d suppression summaries, want 1", summaries)
			}
			if len(got) != tc.wantTotal {
				t.Errorf("%d lines, want %d", len(got), tc.wantTotal)
			}
			for i := 1; i < len(got); i++ {
				if got[i].Time.Before(got[i-1].Time) {
					t.Fatalf("tail is not in order at %d: %v", i, got)
				}
			}
		})
	}
}

// TestLogRingTailShares: the last n lines show the plugin's own lines even
// when the host wrote many more since.
func TestLogRingTailShares(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		plugin, host, n       int
		wantPlugin, wantTotal int
	}{
		{name: "host flood", plugin: 10, host: 400, n: 100, wantPlugin: 10, wantTotal: 100},
		{name: "plugin flood", plugin: 400, host: 10, n: 100, wantPlugin: 90, wantTotal: 100},
		{name: "both flood", plugin: 400, host: 400, n: 100, wantPlugin: 50, wantTotal: 100},
		{name: "all fit", plugin: 20, host: 30, n: 100, wantPlugin: 20, wantTotal: 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newLogRing(500, 1000, 100)
			now := time.Unix(1000, 0)
			for i := range tc.plugin {
				r.add(now.Add(time.Duration(i)), "info", "sdk", "plugin")
			}
			for i := range tc.host {
				r.add(now.Add(time.Duration(tc.plugin+i)), "warning", "host", "denied "+shapeName(i))
			}
			got := r.tail(tc.n)
			p := 0
			for _, l := range got {
				if l.Text == "plugin" {
					p++
				}
			}
			if p != tc.wantPlugin || len(got) != tc.wantTotal {
				t.Fatalf("%d plugin lines of %d, want %d of %d", p, len(got), tc.wantPlugin, tc.wantTotal)
			}
		})
	}
}

// TestLogRingGrowsOnDemand: a ring holds memory for the lines it has, not
// for its size, so an idle supervisor costs little (issue 16: a preallocated
// 500-line ring pair was 180 KiB of every idle wasm instance's 1.6 MiB);
// once full it wraps and keeps exactly the newest size lines.
func TestLogRingGrowsOnDemand(t *testing.T) {
	for _, tc := range []struct {
		name     string
		lines    int
		maxCap   int // capacity the plugin ring may have reached
		wantKept int
	}{
		{name: "empty", lines: 0, maxCap: 0, wantKept: 0},
		{name: "a few lines", lines: 10, maxCap: 16, wantKept: 10},
		{name: "half full", lines: 250, maxCap: 256, wantKept: 250},
		{name: "wrapped", lines: 1234, maxCap: 500, wantKept: 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newLogRing(500, 1<<20, 2000)
			now := time.Unix(1000, 0)
			for i := range tc.lines {
				r.add(now, "info", "stderr", "line "+shapeName(i))
			}
			if c := cap(r.plugin.lines); c > tc.maxCap {
				t.Errorf("plugin ring capacity %d after %d lines, want at most %d", c, tc.lines, tc.maxCap)
			}
			if c := cap(r.host.lines); c != 0 {
				t.Errorf("host ring capacity %d with no host lines, want 0", c)
			}
			got := r.tail(2000)
			if len(got) != tc.wantKept {
				t.Fatalf("kept %d lines, want %d", len(got), tc.wantKept)
			}
			for i, l := range got {
				if want := "line " + shapeName(tc.lines-tc.wantKept+i); l.Text != want {
					t.Fatalf("line %d = %q, want %q (oldest first, newest kept)", i, l.Text, want)
				}
			}
		})
	}
}
