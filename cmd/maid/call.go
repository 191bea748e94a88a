package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/maidhq/maid/discord"
	"github.com/maidhq/maid/engine"
)

const callUsage = `Usage: maid call [flags] PLUGIN METHOD [PARAMS_JSON]

Installs PLUGIN (a directory or zip) into a store (a temporary one unless
--db is given), enables it for --server, feeds --events through the engine
as the gateway would, then calls METHOD and prints its JSON result. The
plugin's Discord actions go to the simulated server (as in maid serve
without a token) and are printed to stderr with their outcome.

METHOD is dashboard.<handler> (a @plugin.on_dashboard handler) or
command.<name> (a slash command). Errors print {"error": {...}} and exit 1.

Flags:
`

func runCall(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("call", callUsage, stderr)
	var bf backendFlags
	bf.register(fs, 0)
	db := fs.String("db", envOr("DB", ""), "store DSN: sqlite://PATH or postgres://... (default: a temporary SQLite store)")
	server := fs.String("server", envOr("SERVER", discord.SimServerID), "Discord server (guild) id the call is for (default: the simulator's, as maid replay and maid serve use)")
	options := fs.String("options", "", `option values for the server as a JSON object, e.g. {"greet": true}`)
	events := fs.String("events", "", "JSONL file of events to feed first, one {\"type\", \"discord_srv_id\", \"data\"} per line")
	verbose := fs.Bool("v", false, "log engine activity and plugin logs to stderr")
	record := fs.String("record", "", "write a recording of the call to this file (replay it with maid replay --exact)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() < 2 || fs.NArg() > 3 {
		fs.Usage()
		return 2
	}
	pluginPath, method := fs.Arg(0), fs.Arg(1)
	params := json.RawMessage("{}")
	if fs.NArg() == 3 {
		params = json.RawMessage(fs.Arg(2))
		if !json.Valid(params) {
			return callFail(stdout, fmt.Errorf("%w: PARAMS_JSON is not valid JSON", engine.ErrInvalid))
		}
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	actions := &actionLog{next: discord.NewSimulator(discord.SimConfig{Logger: log})}
	res, logs, err := call(ctx, log, callArgs{
		backend: bf, db: *db, server: *server, options: *options, events: *events,
		plugin: pluginPath, method: method, params: params, record: *record, discord: actions,
	})
	actions.print(stderr, "maid call")
	if *verbose {
		for _, l := range logs {
			fmt.Fprintf(stderr, "plugin %s %s: %s\n", l.Level, l.Source, termSafe(l.Text))
		}
	}
	if err != nil {
		return callFail(stdout, err)
	}
	printJSON(stdout, res)
	return 0
}

func callFail(w io.Writer, err error) int {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // messages quote <handler> and the like; this is not HTML
	_ = enc.Encode(map[string]any{"error": map[string]string{"code": engine.ErrorCode(err), "message": err.Error()}})
	w.Write(termSafeJSON(b.Bytes())) //nolint:errcheck // a terminal or pipe; nothing to do
	return 1
}

// printJSON prints JSON from a plugin or a recording on one line, with
// what a terminal would act on escaped (termSafeJSON).
func printJSON(w io.Writer, v []byte) {
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		b.Reset()
		b.WriteString(termSafe(string(v)))
	}
	b.WriteByte('\n')
	w.Write(termSafeJSON(b.Bytes())) //nolint:errcheck // a terminal or pipe; nothing to do
}

type callArgs struct {
	backend                     backendFlags
	db, server, options, events string
	plugin, method              string
	params                      json.RawMessage
	record                      string // file for the call's recording, or ""
	discord                     engine.Discord
}

// call runs the whole `maid call` flow and returns the result and the
// plugin's logs.
func call(ctx context.Context, log *slog.Logger, a callArgs) (json.RawMessage, []engine.LogLine, error) {
	kind, name, ok := strings.Cut(a.method, ".")
	if !ok || name == "" || (kind != "dashboard" && kind != "command") {
		return nil, nil, fmt.Errorf("%w: METHOD %q must be dashboard.<handler> or command.<name>", engine.ErrInvalid, a.method)
	}
	tmp, err := os.MkdirTemp("", "maid-call-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(tmp)
	dsn := a.db
	if dsn == "" {
		dsn = "sqlite://" + filepath.Join(tmp, "maid.db")
	}
	eng, err := startEngine(ctx, log, a.backend, dsn, tmp, a.discord)
	if err != nil {
		return nil, nil, err
	}
	var stopped sync.Once
	stop := func() { stopped.Do(eng.Close) }
	defer stop()

	pkg, err := eng.InstallPath(ctx, a.plugin)
	if err != nil {
		return nil, nil, err
	}
	id := pkg.Manifest.ID
	// The log is read once the engine has stopped: a plugin's stderr is
	// read by a goroutine of its own, so a line written just before the
	// answer may still be on its way while the answer is in; the stop
	// waits for the instance's end, and its stderr's.
	logs := func() []engine.LogLine {
		stop()
		l, _ := eng.Logs(id, 0)
		return l
	}
	if err := eng.SetEnabled(ctx, a.server, id, true); err != nil {
		return nil, logs(), err
	}
	if a.options != "" {
		var vals map[string]json.RawMessage
		if err := json.Unmarshal([]byte(a.options), &vals); err != nil {
			return nil, logs(), fmt.Errorf("%w: --options must be a JSON object: %v", engine.ErrInvalid, err)
		}
		if _, err := eng.SetOptions(ctx, a.server, id, vals); err != nil {
			return nil, logs(), err
		}
	}
	if a.events != "" {
		f, err := os.Open(a.events)
		if err != nil {
			return nil, logs(), fmt.Errorf("read events: %w", err)
		}
		err = readEvents(f, a.server, func(ev engine.Event) error {
			dctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			return eng.Dispatch(dctx, ev)
		})
		f.Close()
		if err != nil {
			return nil, logs(), err
		}
		if err := eng.Drain(ctx); err != nil {
			return nil, logs(), err
		}
	}
	var res json.RawMessage
	var recErr error
	if a.record != "" {
		ctx = engine.WithRecording(ctx, func(r engine.Recording) { recErr = writeRecording(a.record, r) })
	}
	if kind == "dashboard" {
		res, err = eng.CallDashboard(ctx, id, a.server, name, a.params)
	} else {
		res, err = eng.CallCommand(ctx, id, a.server, name, a.params)
	}
	if err == nil && recErr != nil {
		err = recErr
	}
	return res, logs(), err
}
