package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/maidhq/maid/engine"
)

// runningEngine is a store, a sandbox backend and an engine running on
// them, for commands that run plugins outside `maid serve`.
type runningEngine struct {
	*engine.Engine
	stop func()
}

// startEngine opens the store at dsn and the backend named by bf, and runs
// an engine on them (plugins unpacked under dataDir; d may be nil). It
// returns once the engine has loaded the installed plugins; Close stops
// the engine, then closes the backend and the store.
func startEngine(ctx context.Context, log *slog.Logger, bf backendFlags, dsn, dataDir string, d engine.Discord) (*runningEngine, error) {
	st, err := openStore(ctx, dsn, dataDir, log)
	if err != nil {
		return nil, err
	}
	backend, err := openBackend(ctx, bf, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	eng, err := engine.New(engine.Config{Store: st, Backend: backend, DataDir: dataDir, Logger: log, Discord: d, HostVersion: version})
	if err != nil {
		backend.Close()
		st.Close()
		return nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- eng.Run(runCtx) }()
	stop := func() {
		cancel()
		<-done
		backend.Close()
		st.Close()
	}
	select {
	case <-eng.Ready():
		return &runningEngine{Engine: eng, stop: stop}, nil
	case err := <-done:
		backend.Close()
		st.Close()
		cancel()
		if err == nil {
			err = errors.New("engine stopped before it was ready")
		}
		return nil, err
	}
}

// Close stops the engine and closes its backend and store.
func (r *runningEngine) Close() { r.stop() }
