package sandbox_test

import (
	"errors"
	"testing"
	"time"

	"github.com/maidhq/maid/sandbox"
)

func TestLimitsValidate(t *testing.T) {
	tests := []struct {
		name string
		l    sandbox.Limits
		ok   bool
	}{
		{name: "zero", l: sandbox.Limits{}, ok: true},
		{name: "defaults", l: sandbox.DefaultLimits, ok: true},
		{name: "negative memory", l: sandbox.Limits{MemoryBytes: -1}},
		{name: "negative cpus", l: sandbox.Limits{CPUs: -0.5}},
		{name: "negative wall time", l: sandbox.Limits{WallTime: -time.Second}},
		{name: "negative scratch", l: sandbox.Limits{ScratchBytes: -1}},
		{name: "negative pids", l: sandbox.Limits{Pids: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.l.Validate()
			if tt.ok != (err == nil) {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, sandbox.ErrBadSpec) {
				t.Fatalf("err = %v, want %v", err, sandbox.ErrBadSpec)
			}
			// A Spec is held to the same rule.
			spec := sandbox.Spec{Dir: ".", Entry: "x.py", Limits: tt.l}
			if serr := spec.Validate(); (serr == nil) != (err == nil) {
				t.Fatalf("Spec.Validate() = %v, Limits.Validate() = %v", serr, err)
			}
		})
	}
}

func TestLimitsWithDefaults(t *testing.T) {
	d := sandbox.DefaultLimits
	tests := []struct {
		name string
		in   sandbox.Limits
		want sandbox.Limits
	}{
		{name: "zero takes every default", in: sandbox.Limits{}, want: d},
		{
			name: "set fields stay",
			in:   sandbox.Limits{MemoryBytes: 64 << 20, CPUs: 0.5, WallTime: time.Minute, ScratchBytes: 1 << 20, Pids: 8},
			want: sandbox.Limits{MemoryBytes: 64 << 20, CPUs: 0.5, WallTime: time.Minute, ScratchBytes: 1 << 20, Pids: 8},
		},
		{
			name: "only memory set",
			in:   sandbox.Limits{MemoryBytes: 512 << 20},
			want: sandbox.Limits{MemoryBytes: 512 << 20, CPUs: d.CPUs, ScratchBytes: d.ScratchBytes, Pids: d.Pids},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.WithDefaults(); got != tt.want {
				t.Fatalf("WithDefaults() = %+v, want %+v", got, tt.want)
			}
		})
	}
	if d.WallTime != 0 {
		t.Errorf("DefaultLimits.WallTime = %v: a default lifetime would end every instance", d.WallTime)
	}
}
