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

	"github.com/maidhq/maid/engine"
)

const recordUsage = `Usage: maid plugin record [flags] PLUGIN on|off|list|get ID

Recordings for exact replay (maid replay --exact). Failed events are always
recorded (the latest 20 per plugin and server are kept); "on" records every
event of PLUGIN on --server too, "off" only failed ones again. "list" shows
the kept recordings, "get ID" writes one to stdout (or -o FILE).
Recordings hold the server's data: treat them like a database dump.

Flags:
`

// runPluginRecord is `maid plugin record`: it works on the store, so a
// running maid serve picks a change up within seconds (its cache).
func runPluginRecord(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("plugin record", recordUsage, stderr)
	db, dataDir := storeFlags(fs)
	server := fs.String("server", envOr("SERVER", ""), "Discord server (guild) id")
	out := fs.String("o", "", "get: write the recording to this file instead of stdout")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() < 2 || *server == "" {
		fs.Usage()
		return 2
	}
	pluginID, verb := fs.Arg(0), fs.Arg(1)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := openStore(ctx, *db, *dataDir, log)
	if err != nil {
		return callFail(stdout, err)
	}
	defer st.Close()
	var rs engine.RecordingStore = st
	switch {
	case (verb == "on" || verb == "off") && fs.NArg() == 2:
		if err := rs.SetRecordAll(ctx, pluginID, *server, verb == "on"); err != nil {
			return callFail(stdout, err)
		}
		fmt.Fprintf(stdout, "recording every event of %s on %s: %s\n", pluginID, *server, verb)
	case verb == "list" && fs.NArg() == 2:
		list, err := rs.ListRecordings(ctx, pluginID, *server)
		if err != nil {
			return callFail(stdout, err)
		}
		for _, r := range list {
			// What a recording was of names the plugin's handler: escaped.
			b, err := json.Marshal(r)
			if err != nil {
				return callFail(stdout, err)
			}
			printJSON(stdout, b)
		}
	case verb == "get" && fs.NArg() == 3:
		_, body, err := rs.GetRecording(ctx, pluginID, *server, fs.Arg(2))
		if err != nil {
			return callFail(stdout, err)
		}
		if *out != "" {
			if err := os.WriteFile(*out, body, 0o600); err != nil {
				return callFail(stdout, err)
			}
			return 0
		}
		printJSON(stdout, body)
	default:
		fs.Usage()
		return 2
	}
	return 0
}
