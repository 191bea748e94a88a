package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
)

func TestRunGroup(t *testing.T) {
	boom := errors.New("boom")
	untilDone := func(ctx context.Context) error { <-ctx.Done(); return nil }
	tests := []struct {
		name    string
		actors  []func(context.Context) error
		wantErr error
	}{
		{"first error stops the rest", []func(context.Context) error{untilDone, func(context.Context) error { return boom }, untilDone}, boom},
		{"first clean return stops the rest", []func(context.Context) error{untilDone, func(context.Context) error { return nil }}, nil},
		{"a later error after cancel is still reported", []func(context.Context) error{
			func(context.Context) error { return nil },
			func(ctx context.Context) error { <-ctx.Done(); return boom },
		}, boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stopped atomic.Int32
			var as []actor
			for i, f := range tt.actors {
				as = append(as, actor{name: string(rune('a' + i)), run: func(ctx context.Context) error {
					defer stopped.Add(1)
					return f(ctx)
				}})
			}
			err := runGroup(context.Background(), as...)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if int(stopped.Load()) != len(tt.actors) {
				t.Fatalf("%d of %d actors stopped", stopped.Load(), len(tt.actors))
			}
		})
	}
	t.Run("parent cancel stops all", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := runGroup(ctx, actor{"a", untilDone}, actor{"b", untilDone}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestServeUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"unknown flag", []string{"--nope"}, 2, "flag provided but not defined"},
		{"extra argument", []string{"extra"}, 2, "Usage: maid serve"},
		{"help", []string{"-h"}, 0, "-oauth-client-id"},
		{"help names instances", []string{"-h"}, 0, "-instances"},
		{"bad instances", []string{"--instances", "per_guild"}, 2, `--instances: must be "per_plugin" or "per_server", got "per_guild"`},
		{"bad trusted proxy", []string{"--trusted-proxies", "10.0.0.0/8,proxy.internal"}, 2, `--trusted-proxies: trusted proxy "proxy.internal": not an IP address or CIDR prefix`},
		{"negative idle timeout", []string{"--idle-timeout", "-1s"}, 2, "--idle-timeout and --metrics-flush must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := runServe(context.Background(), tt.args, &out, &errOut); code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, errOut.String())
			}
			if !strings.Contains(errOut.String(), tt.out) {
				t.Errorf("stderr lacks %q: %s", tt.out, errOut.String())
			}
		})
	}
}
