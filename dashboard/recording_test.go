package dashboard_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maidhq/maid/engine"
)

// TestRecordingDownload: a failed event's log line names its recording;
// the server's managers and the admins can download it, nobody else: not a
// manager of another server (403), not by naming another server's
// recording under their own server (404), not signed out.
func TestRecordingDownload(t *testing.T) {
	env := newEnvOpts(t, envOptions{})
	dir := t.TempDir()
	files := map[string]string{
		"manifest.json": `{"id": "failer", "name": "Failer", "capabilities": ["storage:kv"]}`,
		"__main__.py": `from maid_sdk import Plugin
plugin = Plugin()


@plugin.on_event("message_create")
def on_message(ctx, event):
    ctx.kv.set("secret", "data of " + ctx.discord_srv_id)
    raise RuntimeError("failed on " + ctx.discord_srv_id)


plugin.run()
`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pkg, err := env.eng.InstallPath(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	recs := map[string]string{} // server → recording id
	for _, sid := range []string{serverA, serverB} {
		if err := env.eng.SetEnabled(ctx, sid, pkg.Manifest.ID, true); err != nil {
			t.Fatal(err)
		}
		if err := env.eng.Dispatch(ctx, engine.Event{Type: "message_create", ServerID: sid, Data: json.RawMessage(`{"content": "x"}`)}); err != nil {
			t.Fatal(err)
		}
		if err := env.eng.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		lines, _ := env.eng.Logs("failer", 0)
		for _, l := range lines {
			if l.Server == sid && l.Recording != "" {
				recs[sid] = l.Recording
			}
		}
		if recs[sid] == "" {
			t.Fatalf("no recording named in the log for server %s: %+v", sid, lines)
		}
	}
	url := func(server, id string) string { return "/s/" + server + "/p/failer/recordings/" + id }
	admin, mgr, anon := env.admin(), env.signIn(alice), env.anonymous()

	resp, body := mgr.do("GET", url(serverA, recs[serverA]), "", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("manager of A, A's recording: %d %q", resp.StatusCode, resp.Header.Get("Content-Disposition"))
	}
	var rec engine.Recording
	if err := json.Unmarshal([]byte(body), &rec); err != nil || rec.ServerID != serverA || rec.Outcome.Error == nil || !strings.Contains(body, "data of "+serverA) {
		t.Fatalf("A's recording: %v %.300s", err, body)
	}
	for _, tc := range []struct {
		name   string
		c      *client
		path   string
		status int
	}{
		{"manager of A, B's recording under B", mgr, url(serverB, recs[serverB]), http.StatusForbidden},
		{"manager of A, B's recording under A", mgr, url(serverA, recs[serverB]), http.StatusNotFound},
		{"manager of A, a bad id", mgr, url(serverA, "../../x"), http.StatusNotFound},
		{"admin, B's recording", admin, url(serverB, recs[serverB]), http.StatusOK},
	} {
		if resp, body := tc.c.do("GET", tc.path, "", nil); resp.StatusCode != tc.status {
			t.Errorf("%s: %d, want %d (%.200s)", tc.name, resp.StatusCode, tc.status, body)
		}
	}
	if resp, _ := anon.do("GET", url(serverA, recs[serverA]), "", nil); resp.StatusCode == http.StatusOK {
		t.Error("signed out, A's recording: 200")
	}
	// The logs page offers the download on the failed event's line.
	if _, page := mgr.do("GET", "/logs?plugin=failer", "", nil); !strings.Contains(page, url(serverA, recs[serverA])) {
		t.Errorf("the manager's logs page has no download link for A's failure")
	}
}
