package reliability

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maidhq/maid/engine/enginetest"
)

// lockedBuffer is a log sink the engine's goroutines may share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestHostCallRefusalRecord: a plugin that tries an ATTACH and then makes
// 2,000 refused discord.send_message calls cannot evict the host's record
// of the ATTACH: the refusals fold into one line with a count, and the
// operator's log has the ATTACH denial too. (Issue 14 attack, position 1
// finding 5.)
func TestHostCallRefusalRecord(t *testing.T) {
	sideBySide(t, backends(t), func(t *testing.T, nb namedBackend) {
		var oplog lockedBuffer
		lim := testLimits()
		lim.DashboardTimeout = 30 * time.Second
		// A rate limit above the flood's pace and a short ring stand for
		// the attack's 50 calls a second for 17 s against 500 lines: the
		// rate limit is not what keeps the record here, folding is.
		lim.LogRate, lim.LogLines = 5000, 100
		env := enginetest.Start(t, nb.b, enginetest.Options{Limits: lim, Logger: slog.New(slog.NewTextHandler(&oplog, nil))})
		id := env.Install(t, hostile("logwipe"), "1")
		res := env.Call(t, id, "1", "wipe", map[string]any{"n": 2000})
		if res["refused"] != float64(2000) || !strings.Contains(res["attach"].(string), "ATTACH") {
			t.Fatalf("wipe: %v", res)
		}
		logs, err := env.Engine.Logs(id, 0)
		if err != nil {
			t.Fatal(err)
		}
		text := dumpLogs(logs)
		for _, tc := range []struct{ name, want string }{
			{name: "the ATTACH denial survives", want: "ATTACH statements are not allowed"},
			{name: "the refusals are one line with a count", want: "more like it"},
		} {
			if !strings.Contains(text, tc.want) {
				t.Errorf("%s: the plugin's log lacks %q:\n%s", tc.name, tc.want, text)
			}
		}
		if n := strings.Count(text, "denied: discord.send_message"); n != 1 {
			t.Errorf("%d send_message refusal lines, want 1 folded line:\n%s", n, text)
		}
		if op := oplog.String(); !strings.Contains(op, "ATTACH statements are not allowed") || !strings.Contains(op, "plugin="+id) {
			t.Errorf("the operator's log lacks the ATTACH denial:\n%.3000s", op)
		}
	})
}
