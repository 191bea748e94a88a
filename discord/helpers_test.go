package discord_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maidhq/maid/discord"
	"github.com/maidhq/maid/discord/fakediscord"
	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/engine/enginetest"
	"github.com/maidhq/maid/internal/testenv"
	"github.com/maidhq/maid/sandbox/process"
	"github.com/maidhq/maid/store"
)

// Ids of the fake servers. Guild ids are chosen so that, with two shards,
// guild 1 lives on shard 0 and guild 2 on shard 1 ((id >> 22) % 2).
const (
	guild1   = "8388608"  // 2 << 22
	guild2   = "12582912" // 3 << 22
	chan1    = "510000000000000001"
	chan2    = "520000000000000001"
	user1    = "610000000000000001"
	user2    = "620000000000000001"
	role1    = "710000000000000001"
	role2    = "720000000000000001"
	allCaps  = `["storage:kv", "discord:send_messages", "discord:manage_roles", "discord:read_members"]`
	onlyKV   = `["storage:kv"]`
	waitTime = 60 * time.Second
)

func guilds() []fakediscord.Guild {
	return []fakediscord.Guild{
		{ID: guild1, Name: "One", Channels: []fakediscord.Channel{{ID: chan1, Name: "general"}},
			Roles: []fakediscord.Role{{ID: role1, Name: "Member"}}, Members: []fakediscord.Member{{ID: user1, Name: "alice"}}},
		{ID: guild2, Name: "Two", Channels: []fakediscord.Channel{{ID: chan2, Name: "lobby"}},
			Roles: []fakediscord.Role{{ID: role2, Name: "Staff"}}, Members: []fakediscord.Member{{ID: user2, Name: "bob"}}},
	}
}

// newEngine runs a real engine (process backend, SQLite store) whose
// Discord port is d; it stops when the test ends.
func newEngine(t *testing.T, d engine.Discord) (*engine.Engine, *store.Store) {
	t.Helper()
	backend, err := process.New(process.Config{TempDir: t.TempDir()})
	if err != nil {
		testenv.Unavailable(t, "process backend", "needs python3", err)
	}
	t.Cleanup(func() { backend.Close() })
	dir := t.TempDir()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "maid.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Config{Store: st, Backend: backend, DataDir: dir, Discord: d})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	enginetest.Serve(t, eng)
	return eng, st
}

// install installs the actor test plugin under id with caps, enabled on
// servers. Plugin "one" declares /ping: a command name belongs to one
// installed plugin (Engine.Install), so the others declare none.
func install(t *testing.T, eng *engine.Engine, id, caps string, servers ...string) {
	t.Helper()
	commands := `[]`
	if id == "one" {
		commands = `[{"name": "ping", "description": "Answer pong"}]`
	}
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("testdata", "actor", "__main__.py"))
	if err != nil {
		t.Fatal(err)
	}
	manifest := fmt.Sprintf(`{"id": %q, "name": "Actor", "version": "1.0.0", "script": "__main__.py",
		"capabilities": %s, "commands": %s}`, id, caps, commands)
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "__main__.py"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := eng.InstallPath(ctx, dir); err != nil {
		t.Fatal(err)
	}
	for _, s := range servers {
		if err := eng.SetEnabled(ctx, s, id, true); err != nil {
			t.Fatal(err)
		}
	}
}

type seenItem struct {
	Type    string `json:"type"`
	Server  string `json:"server"`
	GuildID string `json:"guild_id"`
	Content string `json:"content"`
	ID      string `json:"id"`
	User    string `json:"user"`
}

// actorState is what the actor plugin recorded on a server.
type actorState struct {
	Seen   []seenItem      `json:"seen"`
	Errors []string        `json:"errors"`
	Done   []string        `json:"done"`
	Member json.RawMessage `json:"member"`
	Sent   string          `json:"sent"`
	// Unreacted: the plugin's own message it removed a reaction from.
	Unreacted string `json:"unreacted"`
}

func (a actorState) contents() []string {
	var out []string
	for _, s := range a.Seen {
		if s.Type == "message_create" {
			out = append(out, s.Content)
		}
	}
	return out
}

func state(t *testing.T, eng *engine.Engine, plugin, server string) actorState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	raw, err := eng.CallDashboard(ctx, plugin, server, "state", nil)
	if err != nil {
		logs, _ := eng.Logs(plugin, 20)
		t.Fatalf("state of %s on %s: %v\nlogs: %v", plugin, server, err, logs)
	}
	var st actorState
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatalf("state %s: %v", raw, err)
	}
	return st
}

// eventually polls cond until it holds or the wait runs out.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTime)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitState polls a plugin's state until cond holds.
func waitState(t *testing.T, eng *engine.Engine, plugin, server, what string, cond func(actorState) bool) actorState {
	t.Helper()
	var st actorState
	eventually(t, what, func() bool { st = state(t, eng, plugin, server); return cond(st) })
	return st
}

// gwEnv is a gateway connected to a fake Discord, feeding a real engine.
type gwEnv struct {
	fake *fakediscord.Server
	gw   *discord.Gateway
	eng  *engine.Engine
	st   *store.Store
}

// newFake starts a fake Discord with the test guilds, points discordgo at
// it, and closes it when the test ends.
func newFake(t testing.TB) *fakediscord.Server {
	t.Helper()
	fake := fakediscord.New(guilds()...)
	t.Cleanup(fake.Close)
	discord.PointAt(fake.URL)
	return fake
}

// background runs run until the test ends; then cleanup cancels its
// context, waits for it and reports its error under what. run's result
// also arrives on the returned channel: a test that takes it must put it
// back for cleanup.
func background(t testing.TB, what string, run func(ctx context.Context) error) chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: %v", what, err)
		}
	})
	return done
}

// startGateway starts a fake Discord and a gateway to it; setup installs
// plugins before the gateway connects.
func startGateway(t *testing.T, cfg discord.GatewayConfig, setup func(*fakediscord.Server, *engine.Engine)) *gwEnv {
	t.Helper()
	return startGatewayHost(t, cfg, setup, nil)
}

// readyGateway is startGateway with no plugins, once its shard is up and
// it holds the fake's two servers.
func readyGateway(t *testing.T) *gwEnv {
	t.Helper()
	env := startGateway(t, discord.GatewayConfig{}, nil)
	eventually(t, "ready", func() bool { return env.gw.Stats().Shards == 1 && len(mustServers(t, env.gw)) == 2 })
	return env
}

// failingRequests counts the fake's 4xx answers but 429s: the failing
// requests the budgets bound.
func (e *gwEnv) failingRequests() int {
	n := 0
	for _, r := range e.fake.Requests() {
		if r.Status >= 400 && r.Status < 500 && r.Status != 429 {
			n++
		}
	}
	return n
}

// startGatewayHost is startGateway whose gateway runs with the host wrap
// makes of the engine (nil: the engine itself).
func startGatewayHost(t *testing.T, cfg discord.GatewayConfig, setup func(*fakediscord.Server, *engine.Engine), wrap func(*engine.Engine) discord.Host) *gwEnv {
	t.Helper()
	fake := newFake(t)
	if cfg.Token == "" {
		cfg.Token = fake.Token
	}
	cfg.IdentifyDelay = time.Millisecond
	gw, err := discord.NewGateway(cfg)
	if err != nil {
		t.Fatal(err)
	}
	eng, st := newEngine(t, gw)
	if setup != nil {
		setup(fake, eng)
	}
	// Registered after newEngine's cleanups and the fake's, so it runs
	// before them: the gateway stops before the engine and the fake.
	var host discord.Host = eng
	if wrap != nil {
		host = wrap(eng)
	}
	background(t, "gateway run", func(ctx context.Context) error { return gw.Run(ctx, host) })
	return &gwEnv{fake: fake, gw: gw, eng: eng, st: st}
}

// requests returns the fake's REST requests matching method and a path
// substring.
func requests(fake *fakediscord.Server, method, sub string) []fakediscord.Request {
	var out []fakediscord.Request
	for _, r := range fake.Requests() {
		if r.Method == method && strings.Contains(r.Path, sub) {
			out = append(out, r)
		}
	}
	return out
}
