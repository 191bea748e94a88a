package store

import (
	"context"
	"testing"
)

// TestDashboardApprovals: an approval is kept per plugin, replaced by a
// newer one, withdrawn with an empty digest, and removed with the plugin;
// on both dialects.
func TestDashboardApprovals(t *testing.T) {
	eachBackend(t, func(t *testing.T, ctx context.Context, s *Store) {
		name := s.d.String()
		id := "approvals_" + name
		install(t, ctx, s, id)
		get := func() string {
			t.Helper()
			d, err := s.DashboardApproval(ctx, id)
			must(t, err)
			return d
		}
		tests := []struct {
			name, digest, want string
		}{
			{"approve", "sha256:aa", "sha256:aa"},
			{"approve other files", "sha256:bb", "sha256:bb"},
			{"withdraw", "", ""},
			{"approve again", "sha256:cc", "sha256:cc"},
		}
		if got := get(); got != "" {
			t.Fatalf("new plugin approved: %q", got)
		}
		for _, tt := range tests {
			must(t, s.SetDashboardApproval(ctx, id, tt.digest, "admin"))
			if got := get(); got != tt.want {
				t.Fatalf("%s: approval %q, want %q", tt.name, got, tt.want)
			}
		}
		if err := s.SetDashboardApproval(ctx, id, "x\x00y", "admin"); err == nil {
			t.Fatal("a digest with NUL was stored")
		}
		if err := s.SetDashboardApproval(ctx, "not_installed_"+name, "sha256:dd", "admin"); err == nil {
			t.Fatal("approved a plugin that is not installed")
		}
		must(t, s.DeletePlugin(ctx, id))
		install(t, ctx, s, id)
		if got := get(); got != "" {
			t.Fatalf("approval %q survived uninstalling the plugin", got)
		}
	})
}
