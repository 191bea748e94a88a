package engine

import (
	"strings"
	"testing"
	"time"
)

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
				r.add(now.Add(time.Duration(i)*time.Microsecond), "warning", "host", "denied: kv.get needs capability")
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
				r.add(now.Add(time.Duration(tc.plugin+i)), "warning", "host", "denied")
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
