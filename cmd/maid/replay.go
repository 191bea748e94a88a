package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/maidhq/maid/discord"
	"github.com/maidhq/maid/engine"
)

const replayUsage = `Usage: maid replay [flags] FILE.jsonl
       maid replay --exact --plugin DIR RECORDING.json

With --exact, runs one recorded call (a failed event's recording, or one
written by maid call --record or maid dev --record) offline against the
plugin: its host calls are answered from the recording and, on the wasm
backend, its clock and randomness come from it too. Prints a JSON report:
"same" when the plugin did exactly what was recorded (the same result or
the same traceback), else the first divergence. Exit 0 if same, 1 if not.

Without --exact:

Feeds recorded events (the JSONL of maid call --events: one
{"type", "discord_srv_id", "data"} per line) through the engine at --rate
events per second, to the plugins enabled on each event's server in the
store (--db), plus any --plugin installed and enabled on --server for the
replay. Plugin actions land in a simulator, not on Discord. Prints a JSON
summary when every event has been handled.

Flags:
`

// pluginList is a repeatable --plugin flag.
type pluginList []string

func (p *pluginList) String() string     { return fmt.Sprint(*p) }
func (p *pluginList) Set(s string) error { *p = append(*p, s); return nil }

func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("replay", replayUsage, stderr)
	var bf backendFlags
	bf.register(fs, 0)
	db, dataDir := storeFlags(fs)
	server := fs.String("server", envOr("SERVER", discord.SimServerID), "server id for lines without discord_srv_id, and where --plugin is enabled")
	rate := fs.Float64("rate", 0, "events per second (0: as fast as the engine takes them)")
	repeat := fs.Int("repeat", 1, "feed the file this many times")
	var plugins pluginList
	fs.Var(&plugins, "plugin", "plugin directory or zip to install and enable on --server first (repeatable)")
	verbose := fs.Bool("v", false, "log engine activity to stderr")
	exact := fs.Bool("exact", false, "FILE is a recording (maid call --record, maid dev --record, a failed event's download): run it offline against --plugin and report the first divergence")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *exact {
		if fs.NArg() != 1 || len(plugins) != 1 {
			fmt.Fprintln(stderr, "maid replay --exact RECORDING needs exactly one --plugin (the plugin's directory or zip: the recorded code, or your changed code)")
			return 2
		}
		return runReplayExact(ctx, bf, plugins[0], fs.Arg(0), stdout, stderr)
	}
	if fs.NArg() != 1 || *rate < 0 || *repeat < 1 {
		fs.Usage()
		return 2
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	sum, err := replay(ctx, log, replayArgs{
		backend: bf, db: *db, dataDir: *dataDir, server: *server, rate: *rate, repeat: *repeat,
		plugins: plugins, file: fs.Arg(0),
	})
	if err != nil {
		return callFail(stdout, err)
	}
	out, _ := json.Marshal(sum)
	printJSON(stdout, out)
	return 0
}

type replayArgs struct {
	backend             backendFlags
	db, dataDir, server string
	rate                float64
	repeat              int
	plugins             []string
	file                string
}

// replaySummary is what `maid replay` prints.
type replaySummary struct {
	Events   int     `json:"events"`
	Failed   int     `json:"failed"` // refused by the engine (e.g. queue overflow)
	Seconds  float64 `json:"seconds"`
	Rate     float64 `json:"events_per_second"`
	Routed   int64   `json:"routed"` // deliveries to plugins
	Overflow int64   `json:"overflow"`
	// Actions are the plugins' Discord actions, with their outcomes.
	Actions []string `json:"actions"`
}

func replay(ctx context.Context, log *slog.Logger, a replayArgs) (replaySummary, error) {
	var sum replaySummary
	if err := os.MkdirAll(a.dataDir, 0o755); err != nil {
		return sum, err
	}
	sim := discord.NewSimulator(discord.SimConfig{Logger: log})
	actions := &actionLog{next: sim}
	eng, err := startEngine(ctx, log, a.backend, a.db, a.dataDir, actions)
	if err != nil {
		return sum, err
	}
	defer eng.Close()
	simCtx, stopSim := context.WithCancel(ctx)
	simDone := make(chan error, 1)
	go func() { simDone <- sim.Run(simCtx, eng) }()
	defer func() { stopSim(); <-simDone }()
	select {
	case <-sim.Ready():
	case err := <-simDone:
		return sum, err
	}

	for _, p := range a.plugins {
		pkg, err := eng.InstallPath(ctx, p)
		if err != nil {
			return sum, err
		}
		if err := eng.SetEnabled(ctx, a.server, pkg.Manifest.ID, true); err != nil {
			return sum, err
		}
	}
	before := eng.Stats()
	start := time.Now()
	n := 0
	for pass := 0; pass < a.repeat; pass++ {
		f, err := os.Open(a.file)
		if err != nil {
			return sum, fmt.Errorf("read events: %w", err)
		}
		err = readEvents(f, a.server, func(ev engine.Event) error {
			if a.rate > 0 { // pace against the start, so slow dispatches do not add up
				due := start.Add(time.Duration(float64(n) / a.rate * float64(time.Second)))
				if d := time.Until(due); d > 0 {
					select {
					case <-time.After(d):
					case <-ctx.Done():
						return ctx.Err()
					}
				}
			}
			n++
			dctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			if err := eng.Dispatch(dctx, ev); err != nil {
				if errors.Is(err, engine.ErrInvalid) || ctx.Err() != nil {
					return err
				}
				sum.Failed++
				log.Warn("dispatch", "type", ev.Type, "server", ev.ServerID, "err", err)
			}
			return nil
		})
		f.Close()
		if err != nil {
			return sum, err
		}
	}
	if err := eng.Drain(ctx); err != nil {
		return sum, err
	}
	elapsed := time.Since(start)
	after := eng.Stats()
	sum.Events = n
	sum.Seconds = elapsed.Seconds()
	if elapsed > 0 {
		sum.Rate = float64(n) / elapsed.Seconds()
	}
	sum.Routed, sum.Overflow = after.Routed-before.Routed, after.Overflow-before.Overflow
	sum.Actions = actions.Lines()
	if sum.Actions == nil {
		sum.Actions = []string{}
	}
	return sum, nil
}
