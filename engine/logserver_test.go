package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/maidhq/maid/engine"
)

// TestLogLinesNameTheirServer: a call to a handler the plugin does not
// have and a problem the dashboard reports reach the plugin's log, about
// the server they happened on.
func TestLogLinesNameTheirServer(t *testing.T) {
	env := bridgeEnv(t)
	id := env.Install(t, bridgePlugin(t, "logged", false, ""), "A", "B")
	env.Call(t, id, "A", "note", map[string]any{}) // start it
	_, err := env.Engine.CallDashboard(context.Background(), id, "B", "no_such_handler", nil)
	if !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("missing handler: %v", err)
	}
	env.Engine.ReportProblem(id, "A", "dashboard widget w: the handler h returned nonsense")
	lines, err := env.Engine.Logs(id, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"no_such_handler": "B", "returned nonsense": "A"}
	for _, l := range lines {
		for text, server := range want {
			if strings.Contains(l.Text, text) {
				if l.Server != server || l.Level != "error" {
					t.Errorf("%q logged about %q at %s, want %q at error", l.Text, l.Server, l.Level, server)
				}
				delete(want, text)
			}
		}
	}
	if len(want) > 0 {
		t.Fatalf("not logged: %v in %+v", want, lines)
	}
}
