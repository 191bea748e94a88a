package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/internal/plugintest"
)

// commandsPlugin is a plugin id at version declaring the slash commands
// names.
func commandsPlugin(id, version string, names ...string) map[string]string {
	var cmds []string
	for _, n := range names {
		cmds = append(cmds, fmt.Sprintf(`{"name": %q, "description": "x"}`, n))
	}
	return map[string]string{
		"manifest.json": fmt.Sprintf(`{"id": %q, "name": "Commands", "version": %q, "commands": [%s]}`, id, version, strings.Join(cmds, ",")),
		"__main__.py":   "from maid_sdk import Plugin\nPlugin().run()\n",
	}
}

func commandNames(prefix string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

// TestInstallCommandRules guards the install rules for slash commands
// (attack Q1). Commands are global to the bot, so a second plugin
// declaring a name would take it on every server: Install refuses it with
// ErrConflict naming the command and its plugin, while an update of the
// same plugin keeps its names. And Discord refuses the bulk registration
// of more than 100 global commands whole, so Install refuses a package
// that would bring the installed plugins past engine.MaxGlobalCommands
// distinct names. The cases run in order on one engine.
func TestInstallCommandRules(t *testing.T) {
	r := startEngine(t, engine.Limits{InstallTimeout: -1}, nil)
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		files   map[string]string
		wantErr error
		text    []string
	}{
		{name: "first declarer", files: commandsPlugin("c1", "1.0.0", "ping")},
		{name: "another plugin takes the name", files: commandsPlugin("c0", "1.0.0", "pong", "ping"), wantErr: engine.ErrConflict, text: []string{"/ping", `"c1"`}},
		{name: "update of the same plugin", files: commandsPlugin("c1", "1.1.0", "ping", "pong")},
		{name: "fills 98 of 100", files: commandsPlugin("f1", "1.0.0", commandNames("a", 24)...)},
		{name: "fills 98 of 100 (2)", files: commandsPlugin("f2", "1.0.0", commandNames("b", 24)...)},
		{name: "fills 98 of 100 (3)", files: commandsPlugin("f3", "1.0.0", commandNames("c", 24)...)},
		{name: "fills 98 of 100 (4)", files: commandsPlugin("f4", "1.0.0", commandNames("d", 24)...)},
		{name: "one past the limit", files: commandsPlugin("over", "1.0.0", commandNames("e", 3)...), wantErr: engine.ErrLimit, text: []string{"101 slash commands", "at most 100"}},
		{name: "exactly the limit", files: commandsPlugin("fit", "1.0.0", commandNames("e", 2)...)},
		{name: "an update that grows past it", files: commandsPlugin("fit", "1.1.0", commandNames("e", 3)...), wantErr: engine.ErrLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.eng.Install(ctx, plugintest.Pack(t, tc.files))
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("install: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("install: err = %v, want %v", err, tc.wantErr)
			}
			for _, s := range tc.text {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
		})
	}
	if _, ok := r.eng.Plugin("c0"); ok {
		t.Error("the plugin refused for its command name is installed")
	}
}

// TestConcurrentInstallsShareNoCommand (attack V): checkCommands runs
// before the start check (seconds of sandbox start), so two installs
// racing each other both passed it and the same slash command ended up
// declared by two installed plugins. Installs are serialised from the
// check to the switch: of two concurrent installs declaring /dup, one
// succeeds and the other is refused with ErrConflict.
func TestConcurrentInstallsShareNoCommand(t *testing.T) {
	r := startEngine(t, engine.Limits{InstallTimeout: time.Minute}, nil)
	ctx := context.Background()
	slow := func(id string) []byte {
		files := commandsPlugin(id, "1.0.0", "dup")
		files["__main__.py"] = "import time\ntime.sleep(1)\nfrom maid_sdk import Plugin\nPlugin().run()\n"
		return plugintest.Pack(t, files)
	}
	archives := [][]byte{slow("racea"), slow("raceb")}
	errs := make([]error, len(archives))
	var wg sync.WaitGroup
	for i, a := range archives {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = r.eng.Install(ctx, a)
		}()
	}
	wg.Wait()
	var declarers []string
	for _, p := range r.eng.Plugins() {
		for _, c := range p.Manifest.Commands {
			if c.Name == "dup" {
				declarers = append(declarers, p.Manifest.ID)
			}
		}
	}
	if len(declarers) != 1 {
		t.Fatalf("/dup is declared by %d installed plugins %v (install errors %v): a command name belongs to one plugin", len(declarers), declarers, errs)
	}
	if refused := errs[0] != nil || errs[1] != nil; !refused || (errs[0] != nil && errs[1] != nil) || (!errors.Is(errs[0], engine.ErrConflict) && !errors.Is(errs[1], engine.ErrConflict)) {
		t.Fatalf("install errors %v, want exactly one ErrConflict", errs)
	}
}

// uploadHanging installs n packages at once, each a plugin that never
// says hello, the i-th as actor(i); the installs end with the test.
func uploadHanging(t *testing.T, r *rig, n int, actor func(int) string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range n {
		hang := commandsPlugin(fmt.Sprintf("hangs%d", i), "1.0.0", fmt.Sprintf("hang%d", i))
		hang["__main__.py"] = "import time\ntime.sleep(600)\n"
		archive := plugintest.Pack(t, hang)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = r.eng.Install(engine.WithActor(ctx, actor(i)), archive)
		}()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// TestInstallsDoNotWaitForStartChecks (attack W): the install lock (attack
// V) was held across the start check, which may take InstallTimeout and
// leaves nothing recorded when it fails, so a publisher uploading packages
// that never say hello, several at once, held every other install for as
// long as it liked. Publish now runs the start check before taking the
// lock, and one publisher's start checks run one at a time (attack X): an
// admin's install goes through while three such packages of a publisher
// are in or waiting for their start checks.
func TestInstallsDoNotWaitForStartChecks(t *testing.T) {
	// Three uploads at once of packages that never say hello: each would
	// hold its start check for HandshakeTimeout (40 s here, twice the
	// admin's deadline below).
	r := startEngine(t, engine.Limits{InstallTimeout: time.Minute, HandshakeTimeout: 40 * time.Second}, nil)
	uploadHanging(t, r, 3, func(int) string { return "publisher" })
	time.Sleep(2 * time.Second) // the hanging installs hold or wait for the lock

	ctx, stop := context.WithTimeout(context.Background(), 20*time.Second)
	defer stop()
	start := time.Now()
	if _, err := r.eng.Install(engine.WithActor(ctx, "admin"), plugintest.Pack(t, commandsPlugin("urgent", "1.0.0", "urgent"))); err != nil {
		t.Fatalf("an unrelated install waited %s behind other packages' start checks and failed: %v", time.Since(start).Round(time.Second), err)
	}
}

// TestStartChecksBounded (attack X): attack W moved Publish's start
// check out of the install lock, which had also kept start checks one at
// a time, and a start check starts its sandbox outside MaxInstances: a
// publisher uploading many packages at once (each a plugin that never
// says hello, holding its sandbox and memory until InstallTimeout) ran as
// many sandboxes as it uploaded. Start checks run at most two at once
// (of different publishers; one publisher's wait behind each other); the
// others wait.
func TestStartChecksBounded(t *testing.T) {
	r := startEngineWith(t, func(c *engine.Config) {
		c.Limits = engine.Limits{InstallTimeout: time.Minute}
	})
	const uploads = 8
	uploadHanging(t, r, uploads, func(i int) string { return fmt.Sprintf("publisher %d", i) })
	time.Sleep(3 * time.Second)
	if n := len(r.backend.startTimes()); n > 2 {
		t.Errorf("%d concurrent uploads started %d sandboxes at once; want at most 2", uploads, n)
	}
}
