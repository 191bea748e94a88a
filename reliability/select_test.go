package reliability

import (
	"strings"
	"testing"
)

// TestSelectBackends: the reliability suite refuses to run over zero
// backends, whether none started or MAID_RELIABILITY_BACKENDS selects none.
func TestSelectBackends(t *testing.T) {
	started := []namedBackend{{backendKind: backendKind{name: "process"}}, {backendKind: backendKind{name: "wasm", isolated: true}}}
	tests := []struct {
		name    string
		started []namedBackend
		only    string
		want    string // names joined by ",", or "" when an error is wanted
		errLike string
	}{
		{name: "all", started: started, want: "process,wasm"},
		{name: "one", started: started, only: "wasm", want: "wasm"},
		{name: "spaces", started: started, only: " process , wasm ", want: "process,wasm"},
		{name: "none started", errLike: "no backend started"},
		{name: "typo", started: started, only: "wams", errLike: `names "wams"`},
		{name: "empty entry", started: started, only: "wasm,", errLike: `names ""`},
		{name: "not started", started: started, only: "docker", errLike: "did not start"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := selectBackends(tc.started, tc.only)
			if tc.errLike != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errLike) {
					t.Fatalf("err = %v, want one containing %q", err, tc.errLike)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, nb := range got {
				names = append(names, nb.name)
			}
			if strings.Join(names, ",") != tc.want {
				t.Fatalf("got %v, want %s", names, tc.want)
			}
		})
	}
}
