package dashboard_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

type logsAnswer struct {
	Lines []struct {
		Level, Source, Text, Server, Plugin string
	}
}

func (c *client) logs(t *testing.T, query string) (int, logsAnswer) {
	t.Helper()
	resp, body := c.do("GET", "/api/logs"+query, "", nil)
	var a logsAnswer
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal([]byte(body), &a); err != nil {
			t.Fatalf("logs answer %q: %v", body, err)
		}
	}
	return resp.StatusCode, a
}

// TestLogsPerServer: a server's manager sees the plugin errors of their
// servers (a raised exception, a bad widget answer) and none of another
// server's or the host's own lines; asking for another server is refused;
// admins see everything; the level filter filters.
func TestLogsPerServer(t *testing.T) {
	env := newEnvOpts(t, envOptions{})
	admin, mgr := env.admin(), env.signIn(alice)
	mgr.do("GET", "/s/"+serverA+"/p/widgets/w/overview/broken", "", nil)
	mgr.do("GET", "/s/"+serverA+"/p/widgets/w/edge/bad", "", nil)
	admin.do("GET", "/s/"+serverB+"/p/widgets/w/overview/broken", "", nil)
	admin.do("GET", "/s/"+serverB+"/p/widgets/w/edge/bad", "", nil)

	code, a := mgr.logs(t, "")
	if code != http.StatusOK {
		t.Fatalf("manager: %d", code)
	}
	var kaboom, bad bool
	for _, l := range a.Lines {
		if l.Server != serverA {
			t.Errorf("the manager of A sees a line about %q: %s", l.Server, l.Text)
		}
		kaboom = kaboom || strings.Contains(l.Text, "kaboom")
		bad = bad || strings.Contains(l.Text, "dashboard widget bad")
	}
	if !kaboom || !bad {
		t.Fatalf("the manager misses their server's errors (exception %v, bad answer %v): %+v", kaboom, bad, a.Lines)
	}
	if code, _ := mgr.logs(t, "?server="+serverB); code != http.StatusForbidden {
		t.Fatalf("a manager asking for another server's logs: %d, want 403", code)
	}
	if resp, _ := mgr.do("GET", "/logs?server="+serverB, "", nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the logs page of another server: %d, want 403", resp.StatusCode)
	}
	_, a = admin.logs(t, "?server="+serverB+"&plugin=widgets")
	found := false
	for _, l := range a.Lines {
		found = found || l.Server == serverB && strings.Contains(l.Text, "kaboom")
		if l.Server != serverB || l.Plugin != "widgets" {
			t.Errorf("filter server=B plugin=widgets let through %+v", l)
		}
	}
	if !found {
		t.Fatal("the admin does not see server B's error")
	}
	_, a = mgr.logs(t, "?level=error")
	for _, l := range a.Lines {
		if l.Level != "error" {
			t.Errorf("level=error let through %+v", l)
		}
	}
	if code, _ := mgr.logs(t, "?level=loud"); code != http.StatusBadRequest {
		t.Errorf("a bad level: %d", code)
	}
	resp, page := mgr.do("GET", "/logs?plugin=widgets", "", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "kaboom") || strings.Contains(page, "[stderr]") {
		t.Fatalf("the manager's logs page: %d %.300s", resp.StatusCode, page)
	}
}

// TestWidgetErrorsForManagers: a manager sees a plain sentence and the way
// to the logs, an admin also the detail.
func TestWidgetErrorsForManagers(t *testing.T) {
	env := newEnvOpts(t, envOptions{})
	for _, tt := range []struct {
		name       string
		c          *client
		wantDetail bool
	}{{"manager", env.signIn(alice), false}, {"admin", env.admin(), true}} {
		t.Run(tt.name, func(t *testing.T) {
			for _, w := range []string{"overview/broken", "edge/bad"} {
				_, body := tt.c.do("GET", "/s/"+serverA+"/p/widgets/w/"+w, "", nil)
				detail := strings.Contains(body, "kaboom") || strings.Contains(body, "not a number")
				if detail != tt.wantDetail || !strings.Contains(body, "plugin&#39;s logs") {
					t.Errorf("%s: detail shown %v, want %v: %s", w, detail, tt.wantDetail, body)
				}
			}
		})
	}
}
