package dashboard_test

import (
	"context"
	"strings"
	"testing"
)

// TestScriptInjection: a plugin whose name, author, description, option
// names, option defaults, select choices and log lines carry markup is
// shown as text on every page that shows them (reliability suite,
// docs/security.md).
func TestScriptInjection(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	env.installEnabled("testdata/xss")
	if _, err := env.eng.CallDashboard(ctx, "xss", serverA, "log", nil); err != nil {
		t.Fatal(err)
	}
	c := env.admin()
	bad := []string{"<img src=x", "<script>alert", "<svg onload", "onclick=alert", "<iframe src=javascript", `"><script>`}
	for _, path := range []string{
		"/s/" + serverA,
		"/s/" + serverA + "/p/xss",
		"/marketplace",
		"/plugins/xss/logs",
	} {
		t.Run(path, func(t *testing.T) {
			resp, body := c.do("GET", path, "", nil)
			if resp.StatusCode != 200 {
				t.Fatalf("GET %s: %d", path, resp.StatusCode)
			}
			for _, b := range bad {
				if strings.Contains(body, b) {
					i := strings.Index(body, b)
					t.Errorf("%s contains raw %q: …%s…", path, b, body[max(0, i-80):min(len(body), i+80)])
				}
			}
		})
	}
	// The text itself is there, escaped: it was rendered, not dropped.
	_, page := c.do("GET", "/s/"+serverA+"/p/xss", "", nil)
	if !strings.Contains(page, "&lt;img src=x onerror=alert(1)&gt;") {
		t.Error("the plugin name is not shown as escaped text")
	}
	_, logs := c.do("GET", "/plugins/xss/logs", "", nil)
	if !strings.Contains(logs, "&lt;script&gt;alert(") {
		t.Error("the log line is not shown as escaped text")
	}
}
