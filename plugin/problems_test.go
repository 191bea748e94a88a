package plugin

import (
	"errors"
	"slices"
	"testing"
)

// checkProblems fails t unless err is a validation error (wrapping
// ErrInvalid) whose problems are exactly want.
func checkProblems(t *testing.T, err error, want []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %q, got valid", want)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("error does not wrap ErrInvalid: %v", err)
	}
	if got := Lines(err); !slices.Equal(got, want) {
		t.Errorf("problems:\n got: %q\nwant: %q", got, want)
	}
}
