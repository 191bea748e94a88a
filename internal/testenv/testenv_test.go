package testenv

import (
	"errors"
	"strings"
	"testing"
)

// recorder is a testing.TB that records how a test was stopped.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()           {}
func (r *recorder) Fatal(args ...any) { r.fatal = args[0].(string) }
func (r *recorder) Skip(args ...any)  { r.skip = args[0].(string) }

func TestUnavailable(t *testing.T) {
	tests := []struct {
		name      string
		ci        string
		wantFatal bool
	}{
		{name: "ci fails", ci: "true", wantFatal: true},
		{name: "laptop skips", ci: ""},
		{name: "other value skips", ci: "1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			r := &recorder{TB: t}
			Unavailable(r, "docker backend", "start dockerd", errors.New("no socket"))
			got := r.skip
			if tc.wantFatal {
				got = r.fatal
				if r.skip != "" {
					t.Fatalf("skipped under CI: %q", r.skip)
				}
			} else if r.fatal != "" {
				t.Fatalf("failed outside CI: %q", r.fatal)
			}
			for _, part := range []string{"docker backend", "start dockerd", "no socket"} {
				if !strings.Contains(got, part) {
					t.Fatalf("message %q lacks %q", got, part)
				}
			}
		})
	}
}
