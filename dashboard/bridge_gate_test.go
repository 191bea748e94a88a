package dashboard_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/maidhq/maid/dashboard"
)

// TestBridgeOnlyWhereIframeServed (browser attack, finding 4): an iframe
// dashboard's way in — the MaidSDK bridge (host/kv.*, sql.*, metrics.*)
// and rpc to its handlers — answers exactly when its iframe is served:
// not with --iframe-dashboards=off, not before an admin approves the
// plugin, not after the approval is withdrawn. A manager calling the
// endpoints directly gets what the page would not show. Manifest-mode
// forms (rpc) work in every mode.
func TestBridgeOnlyWhereIframeServed(t *testing.T) {
	q := "?discord_srv_id=" + serverA
	for _, tt := range []struct {
		name    string
		mode    dashboard.IframeMode
		approve bool // an admin approves iframe_probe
		revoke  bool // ... and withdraws it again
		want    int
	}{
		{"off", dashboard.IframeOff, false, false, http.StatusForbidden},
		{"approve, not approved", dashboard.IframeApprove, false, false, http.StatusForbidden},
		{"approve, approved", dashboard.IframeApprove, true, false, http.StatusOK},
		{"approve, approval withdrawn", dashboard.IframeApprove, true, true, http.StatusForbidden},
		{"on", dashboard.IframeOn, false, false, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnvOpts(t, envOptions{iframes: tt.mode})
			if tt.approve {
				env.approve("iframe_probe")
			}
			if tt.revoke {
				admin := env.admin()
				if resp, body := admin.postForm("/plugins/iframe_probe/dashboard-approval", url.Values{"approve": {"false"}}); resp.StatusCode != http.StatusSeeOther {
					t.Fatalf("withdraw: %d %s", resp.StatusCode, body)
				}
			}
			mgr := env.signIn(alice)
			for _, path := range []string{
				"/p/iframe_probe/dashboard/host/kv.set" + q,
				"/p/iframe_probe/dashboard/host/kv.get" + q,
				"/p/iframe_probe/dashboard/rpc/whoami" + q,
			} {
				resp, body := mgr.postJSON(path, `{"key": "k", "value": 1}`)
				if resp.StatusCode != tt.want {
					t.Errorf("%s: %d %.200s, want %d", path, resp.StatusCode, body, tt.want)
				}
				if tt.want == http.StatusForbidden {
					if code, _ := errorBody(t, body); code != "not_approved" {
						t.Errorf("%s: code %q, want not_approved", path, code)
					}
				}
			}
			if _, found := env.kvGet("iframe_probe", serverA, "k"); found != (tt.want == http.StatusOK) {
				t.Errorf("kv.set through the bridge stored a value: %v, want %v", found, tt.want == http.StatusOK)
			}
			if resp, body := mgr.postJSON("/p/widgets/dashboard/rpc/get_stat"+q, "{}"); resp.StatusCode != http.StatusOK {
				t.Errorf("a manifest-mode rpc: %d %.200s", resp.StatusCode, body)
			}
		})
	}
}
