package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/maidhq/maid/internal/testenv"
	"github.com/maidhq/maid/sandbox"
)

// TestDockerRuntimeFlag: --docker-runtime reaches the docker backend, which
// refuses a runtime the engine lacks and names those it has; a bad
// --docker-data-path is refused naming the choices.
func TestDockerRuntimeFlag(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{name: "unknown runtime", args: []string{"--docker-runtime", "maid-no-such-runtime"}, want: []string{`OCI runtime "maid-no-such-runtime"`, "runc"}},
		{name: "unknown data path", args: []string{"--docker-data-path", "fifo"}, want: []string{`data path "fifo"`, "socket", "attach"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			var bf backendFlags
			bf.register(fs, 0)
			if err := fs.Parse(append([]string{"--backend", "docker"}, tc.args...)); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			b, err := openBackend(ctx, bf, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err == nil {
				b.Close()
				t.Fatal("openBackend succeeded")
			}
			if errors.Is(err, sandbox.ErrUnavailable) {
				testenv.Unavailable(t, "docker engine", "start dockerd", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
