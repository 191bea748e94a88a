package engine_test

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/engine/enginetest"
)

// TestRecordAllAndKept: failed events are recorded, at most
// engine.RecordingsKept per (plugin, server); an operator's record-all
// switch records successful events too, on that server only.
func TestRecordAllAndKept(t *testing.T) {
	b := processBackend(t)
	env := enginetest.Start(t, b, enginetest.Options{})
	_, file, _, _ := runtime.Caller(0)
	id := env.Install(t, filepath.Join(filepath.Dir(file), "enginetest", "testdata", "replayer"), "1", "2")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	count := func(server string) (all, failed int) {
		t.Helper()
		list, err := env.Engine.Recordings(ctx, id, server)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range list {
			all++
			if r.Failed {
				failed++
			}
		}
		return all, failed
	}
	env.Dispatch(t, enginetest.Message("1", "7", "ok"))
	if all, _ := count("1"); all != 0 {
		t.Fatalf("a successful event was kept without record-all: %d", all)
	}
	for range engine.RecordingsKept + 3 {
		env.Dispatch(t, enginetest.Message("1", "7", "fail"))
	}
	if all, failed := count("1"); all != engine.RecordingsKept || failed != all {
		t.Fatalf("kept %d (%d failed), want %d failed", all, failed, engine.RecordingsKept)
	}
	if err := env.Engine.SetRecordAll(ctx, id, "2", true); err != nil {
		t.Fatal(err)
	}
	env.Dispatch(t, enginetest.Message("2", "7", "ok"), enginetest.Message("1", "7", "ok"))
	if all, failed := count("2"); all != 1 || failed != 0 {
		t.Fatalf("record-all on server 2: %d kept, %d failed; want 1, 0", all, failed)
	}
	if all, _ := count("1"); all != engine.RecordingsKept {
		t.Fatalf("record-all leaked to server 1: %d", all)
	}
}
