package reliability

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/maidhq/maid/engine/enginetest"
	"github.com/maidhq/maid/internal/syncbuf"
)

// TestHostCallRefusalRecord: a plugin that tries an ATTACH and then makes
// 2,000 refused discord.send_message calls cannot evict the host's record
// of the ATTACH: the refusals fold into one line with a count, and the
// operator's log has the ATTACH denial too. (Issue 14 attack, position 1
// finding 5.)
func TestHostCallRefusalRecord(t *testing.T) {
	sideBySide(t, backends(t), func(t *testing.T, nb namedBackend) {
		for _, tc := range []struct {
			name, mode string
			flood      string // the flood's kept line
			floodLines int    // lines of the flood's kind kept
		}{
			{name: "one refusal repeated", mode: "send", flood: "denied: discord.send_message", floodLines: 1},
			// 7 distinct statements beside the ATTACH, then one line
			// counting the rest.
			{name: "a different statement each time", mode: "sql", flood: `more host lines starting "denied: store:"`, floodLines: 7},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var oplog syncbuf.Buffer // the engine's goroutines share it
				lim := testLimits()
				lim.DashboardTimeout = 60 * time.Second
				// A rate limit above the flood's pace and a short ring stand
				// for the attack's 50 calls a second for 17 s against 500
				// lines: the rate limit is not what keeps the record here.
				lim.LogRate, lim.LogLines = 5000, 100
				env := enginetest.Start(t, nb.b, enginetest.Options{Limits: lim, Logger: slog.New(slog.NewTextHandler(&oplog, nil))})
				id := env.Install(t, hostile("logwipe"), "1")
				res := env.Call(t, id, "1", "wipe", map[string]any{"n": 2000, "mode": tc.mode})
				if res["refused"] != float64(2000) || !strings.Contains(res["attach"].(string), "ATTACH") {
					t.Fatalf("wipe: %v", res)
				}
				logs, err := env.Engine.Logs(id, 0)
				if err != nil {
					t.Fatal(err)
				}
				text := dumpLogs(logs)
				if !strings.Contains(text, "ATTACH statements are not allowed") {
					t.Errorf("the ATTACH denial was evicted:\n%s", text)
				}
				if !strings.Contains(text, tc.flood) || !strings.Contains(text, "more like it") {
					t.Errorf("the flood is not one line with a count (%q):\n%s", tc.flood, text)
				}
				kind := "denied: discord.send_message"
				if tc.mode == "sql" {
					kind = "sql: Q"
				}
				if n := strings.Count(text, kind); n > tc.floodLines {
					t.Errorf("%d lines of the flood kept, want at most %d:\n%s", n, tc.floodLines, text)
				}
				if op := oplog.String(); !strings.Contains(op, "ATTACH statements are not allowed") || !strings.Contains(op, "plugin="+id) {
					t.Errorf("the operator's log lacks the ATTACH denial:\n%.3000s", op)
				}
			})
		}
	})
}
