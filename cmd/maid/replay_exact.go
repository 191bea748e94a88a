package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/plugin"
)

// maxRecordingFile bounds a recording read from disk: engine recordings
// are at most engine.MaxRecordingBytes, plus JSON framing.
const maxRecordingFile = 4 * engine.MaxRecordingBytes

// runReplayExact is `maid replay --exact`.
func runReplayExact(ctx context.Context, bf backendFlags, pluginPath, file string, stdout, stderr io.Writer) int {
	rec, err := readRecording(file)
	if err != nil {
		return callFail(stdout, err)
	}
	pkg, err := plugin.Load(pluginPath)
	if err != nil {
		if lines := plugin.Lines(err); len(lines) > 0 {
			for _, l := range lines {
				fmt.Fprintln(stderr, termSafe(l))
			}
		}
		return callFail(stdout, fmt.Errorf("%w: %v", engine.ErrInvalid, err))
	}
	defer pkg.Close()
	if pkg.Manifest.ID != rec.PluginID {
		fmt.Fprintf(stderr, "maid replay: note: the recording is of plugin %q, this is %q\n", rec.PluginID, pkg.Manifest.ID)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	backend, err := openBackend(ctx, bf, log)
	if err != nil {
		return callFail(stdout, err)
	}
	defer backend.Close()
	rep, err := engine.ReplayExact(ctx, backend, pkg, rec)
	if err != nil {
		return callFail(stdout, err)
	}
	if rec.Backend != "" && rec.Backend != backend.Name() {
		fmt.Fprintf(stderr, "maid replay: note: recorded on %s, replayed on %s\n", rec.Backend, backend.Name())
	}
	if rep.Same {
		fmt.Fprintf(stderr, "maid replay: same: %d host calls and %d clock/random reads answered from the recording\n", rep.HostCalls, rep.EntropyReads)
	} else {
		fmt.Fprintf(stderr, "maid replay: diverged at %s\n", termSafe(rep.Divergence.String()))
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(rep)
	if !rep.Same {
		return 1
	}
	return 0
}

func readRecording(file string) (engine.Recording, error) {
	var rec engine.Recording
	f, err := os.Open(file)
	if err != nil {
		return rec, fmt.Errorf("read recording: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxRecordingFile+1))
	if err != nil {
		return rec, fmt.Errorf("read recording: %w", err)
	}
	if len(data) > maxRecordingFile {
		return rec, fmt.Errorf("read recording: %w: %s is over %d bytes", engine.ErrInvalid, file, maxRecordingFile)
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return rec, fmt.Errorf("read recording: %w: %s: %v", engine.ErrInvalid, file, err)
	}
	return rec, nil
}

// writeRecording writes a recording as indented JSON.
func writeRecording(file string, rec engine.Recording) error {
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("write recording: %w", err)
	}
	if err := os.WriteFile(file, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write recording: %w", err)
	}
	return nil
}
