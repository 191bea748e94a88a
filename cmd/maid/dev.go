package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/maidhq/maid/dashboard"
	"github.com/maidhq/maid/discord"
	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/plugin"
)

const devUsage = `Usage: maid dev [flags] DIR

Runs the plugin in DIR against the simulator and the dashboard, on a
temporary store, and prints a one-time admin sign-in link. When a file in
DIR changes the plugin is reloaded: events keep their order and none is
lost; new events go to the new code once it has completed its handshake,
and a reload that fails keeps the old code running. Validation problems,
tracebacks and the plugin's log lines are printed as they happen.

Flags:
`

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("dev", devUsage, stderr)
	var a devArgs
	a.backend.register(fs, 0)
	fs.StringVar(&a.addr, "addr", envOr("ADDR", "127.0.0.1:8080"), "dashboard listen address")
	fs.DurationVar(&a.poll, "poll", 300*time.Millisecond, "how often DIR is checked for changes")
	fs.StringVar(&a.record, "record", "", "directory to write a recording of every failed event to (replay with maid replay --exact)")
	verbose := fs.Bool("v", false, "log engine activity to stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	a.dir = fs.Arg(0)
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	a.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := dev(ctx, a, stdout, stderr, nil); err != nil {
		fmt.Fprintf(stderr, "maid dev: %v\n", err)
		return 1
	}
	return 0
}

type devArgs struct {
	backend backendFlags
	addr    string
	poll    time.Duration
	record  string
	dir     string
	log     *slog.Logger
}

// devSession is a running `maid dev`, for tests.
type devSession struct {
	eng *engine.Engine
	sim *discord.Simulator
}

// dev runs until ctx ends. started, if set, is called once the plugin's
// first version is in (or failed) and the simulator is up.
func dev(ctx context.Context, a devArgs, stdout, stderr io.Writer, started func(devSession)) error {
	dir, err := filepath.Abs(a.dir)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("%s is not a plugin directory", a.dir)
	}
	tmp, err := os.MkdirTemp("", "maid-dev-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	st, err := openStore(ctx, "sqlite://"+filepath.Join(tmp, "maid.db"), tmp, a.log)
	if err != nil {
		return err
	}
	defer st.Close()
	backend, err := openBackend(ctx, a.backend, a.log)
	if err != nil {
		return err
	}
	defer backend.Close()
	term := &devTerm{w: stderr}
	if a.record != "" {
		if err := os.MkdirAll(a.record, 0o755); err != nil {
			return err
		}
		term.recs = make(chan devRec, 64)
	}
	sim := discord.NewSimulator(discord.SimConfig{Logger: a.log})
	eng, err := engine.New(engine.Config{
		Store: st, Backend: backend, Discord: sim, DataDir: tmp, Logger: a.log, HostVersion: version,
		LogSink: term.line,
	})
	if err != nil {
		return err
	}
	site, err := dashboard.New(dashboard.Config{
		Engine: eng, Directory: sim, Simulator: sim, Addr: a.addr, Logger: a.log, Stdout: stdout,
		Ready: st.Ping, IframeDashboards: dashboard.IframeOn, Approvals: st,
	})
	if err != nil {
		return err
	}
	return runGroup(ctx,
		actor{"engine", eng.Run},
		actor{"simulator", func(ctx context.Context) error { return sim.Run(ctx, eng) }},
		actor{"dev", func(ctx context.Context) error {
			select {
			case <-eng.Ready():
			case <-ctx.Done():
				return nil
			}
			select {
			case <-sim.Ready():
			case <-ctx.Done():
				return nil
			}
			w := &devWatcher{eng: eng, dir: dir, term: term, server: discord.SimServerID}
			w.load(ctx)
			if started != nil {
				started(devSession{eng: eng, sim: sim})
			}
			return w.watch(ctx, a.poll)
		}},
		actor{"dashboard", site.Run},
		actor{"recordings", func(ctx context.Context) error {
			if term.recs == nil {
				// Nothing to save, but the group ends when its first
				// actor returns: wait with the others.
				<-ctx.Done()
				return nil
			}
			for {
				select {
				case <-ctx.Done():
					return nil
				case r := <-term.recs:
					writeDevRecording(ctx, eng, term, a.record, a.dir, r)
				}
			}
		}},
	)
}

// devRec names a kept recording of a failed event.
type devRec struct{ pluginID, serverID, id string }

// writeDevRecording saves a failed event's recording under dir and says
// how to replay it.
func writeDevRecording(ctx context.Context, eng *engine.Engine, term *devTerm, dir, pluginDir string, r devRec) {
	_, body, err := eng.Recording(ctx, r.pluginID, r.serverID, r.id)
	if err != nil {
		term.printf("maid dev: recording %s: %v\n", r.id, err)
		return
	}
	path := filepath.Join(dir, time.Now().UTC().Format("20060102-150405")+"-"+r.id+".json")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		term.printf("maid dev: recording %s: %v\n", r.id, err)
		return
	}
	term.printf("maid dev: recorded the failed event: %s\n  replay: maid replay --exact --plugin %s %s\n", path, pluginDir, path)
}

// devTerm writes to the terminal, one line at a time, from any goroutine.
type devTerm struct {
	mu   sync.Mutex
	w    io.Writer
	recs chan devRec // failed events' recordings to save (--record), or nil
}

func (t *devTerm) printf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	// Everything dev prints quotes the plugin (its log lines, a failed
	// start's output, validation problems): escaped as a whole.
	io.WriteString(t.w, termSafeLines(fmt.Sprintf(format, args...)))
}

// line prints a plugin log line (engine.Config.LogSink): called with the
// log's lock held, and a terminal write is quick.
func (t *devTerm) line(pluginID string, l engine.LogLine) {
	t.printf("%s %-7s %s %s: %s\n", l.Time.Format("15:04:05.000"), l.Level, pluginID, l.Source, termSafe(l.Text))
	if l.Recording != "" && t.recs != nil {
		select {
		case t.recs <- devRec{pluginID: pluginID, serverID: l.Server, id: l.Recording}:
		default: // a burst of failures: the store still has them
		}
	}
}

// devWatcher reloads the plugin when its files change.
type devWatcher struct {
	eng    *engine.Engine
	dir    string
	term   *devTerm
	server string
	id     string // installed plugin id, "" until the first good version
	loads  int
}

// load packs the directory and installs or reloads it.
func (w *devWatcher) load(ctx context.Context) {
	var buf bytes.Buffer
	if err := plugin.Pack(w.dir, &buf); err != nil {
		w.problems(err)
		return
	}
	pkg, err := w.eng.Reload(ctx, buf.Bytes())
	if err != nil {
		w.problems(err)
		return
	}
	w.loads++
	if pkg.Manifest.ID != w.id {
		w.id = pkg.Manifest.ID
		if err := w.eng.SetEnabled(ctx, w.server, w.id, true); err != nil {
			w.term.printf("maid dev: enable %s: %v\n", w.id, err)
			return
		}
	}
	name := pkg.Manifest.ID
	if pkg.Manifest.Version != "" {
		name += " " + pkg.Manifest.Version
	}
	w.term.printf("maid dev: %s loaded (#%d); enabled on the simulator's server\n", name, w.loads)
}

func (w *devWatcher) problems(err error) {
	what := "the running version is kept"
	if w.id == "" {
		what = "fix the files; they are checked again on the next change"
	}
	if ve := (*plugin.ValidationError)(nil); errors.As(err, &ve) {
		lines := plugin.Lines(err)
		w.term.printf("maid dev: the plugin does not validate (%s):\n  %s\n", what, strings.Join(lines, "\n  "))
		return
	}
	w.term.printf("maid dev: reload failed (%s): %v\n", what, err)
}

// watch polls the tree and reloads once it has changed and then stayed
// the same for one more poll (an editor's save is often several writes).
func (w *devWatcher) watch(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	last := fingerprint(w.dir)
	pending := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		now := fingerprint(w.dir)
		switch {
		case now != last:
			last, pending = now, true
		case pending:
			pending = false
			w.load(ctx)
		}
	}
}

// fingerprint summarizes the packaged files' names, sizes and times.
func fingerprint(dir string) string {
	var b strings.Builder
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if p != dir && (strings.HasPrefix(d.Name(), ".") || d.Name() == "__pycache__") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if fi, err := d.Info(); err == nil && !d.IsDir() {
			fmt.Fprintf(&b, "%s\x00%d\x00%d\n", p, fi.Size(), fi.ModTime().UnixNano())
		}
		return nil
	})
	return b.String()
}
