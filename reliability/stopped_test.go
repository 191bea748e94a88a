package reliability

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/engine/enginetest"
	"github.com/maidhq/maid/store"
)

// TestDispatchAfterStop: once the engine has stopped, Dispatch reports the
// event as not delivered instead of queueing it where nothing reads.
func TestDispatchAfterStop(t *testing.T) {
	nb := backends(t)[0] // nothing starts: no sandbox is under test
	dir := t.TempDir()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "maid.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	eng, err := engine.New(engine.Config{Store: st, Backend: nb.b, DataDir: dir, Limits: testLimits()})
	if err != nil {
		t.Fatal(err)
	}
	stop := enginetest.Serve(t, eng)
	installEnabled(t, eng, goodPlugin, "1")
	stop()
	before := eng.Stats().Overflow
	err = eng.Dispatch(ctx, enginetest.Message("1", "5", "after stop"))
	if err == nil {
		t.Fatal("Dispatch on a stopped engine accepted an event nothing will deliver")
	}
	t.Logf("dispatch after stop: %v", err)
	if got := eng.Stats().Overflow; got != before+1 {
		t.Fatalf("overflow %d → %d, want the event counted", before, got)
	}
}
