package main

import (
	"strings"
	"testing"
)

func TestParseBytes(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int64 // 0: an error
	}{
		{name: "gib", in: "4GiB", want: 4 << 30},
		{name: "mib with space", in: " 512 MiB", want: 512 << 20},
		{name: "fraction", in: "1.5GiB", want: 3 << 29},
		{name: "decimal units", in: "100MB", want: 100e6},
		{name: "bytes", in: "1048576", want: 1 << 20},
		{name: "zero", in: "0GiB"},
		{name: "negative", in: "-1MiB"},
		{name: "words", in: "lots"},
		{name: "empty", in: ""},
		{name: "nan", in: "NaN"},
		{name: "too big", in: "1e30GiB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseBytes(tc.in)
			if tc.want == 0 {
				if err == nil {
					t.Fatalf("parseBytes(%q) = %d, want an error", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseBytes(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
}

func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"4GiB", "512MiB", "1", "1.5KB", "-3", "NaN", "1e300GB", "GiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseBytes(s)
		if err == nil && n <= 0 {
			t.Fatalf("parseBytes(%q) = %d without an error", s, n)
		}
		if err != nil && !strings.Contains(err.Error(), "size") {
			t.Fatalf("parseBytes(%q): error %q does not say what is wanted", s, err)
		}
	})
}

func TestBenchUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "unknown backend", args: []string{"--backends", "process,vm"}, want: `unknown backend "vm"`},
		{name: "bad budget", args: []string{"--budget", "lots"}, want: "--budget"},
		{name: "sqlite db", args: []string{"--db", "sqlite://x.db"}, want: "postgres://"},
		{name: "stray argument", args: []string{"extra"}, want: "unexpected argument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut strings.Builder
			if code := runBench(t.Context(), tc.args, &out, &errOut); code != 2 {
				t.Fatalf("exit %d, want 2 (usage); stderr: %s", code, errOut.String())
			}
			if !strings.Contains(errOut.String(), tc.want) {
				t.Fatalf("stderr %q does not mention %q", errOut.String(), tc.want)
			}
		})
	}
}
