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
