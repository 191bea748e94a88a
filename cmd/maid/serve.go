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
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/maidhq/maid/cluster"
	"github.com/maidhq/maid/dashboard"
	"github.com/maidhq/maid/discord"
	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/plugin"
	"github.com/maidhq/maid/sdk"
	"github.com/maidhq/maid/telemetry"
)

const serveUsage = `Usage: maid serve [flags]

Runs the engine, the dashboard and either the Discord gateway (with
--discord-token) or the local simulator. Prints a one-time admin sign-in
link on start. On first start with no plugins installed, the example
plugins (--examples) are installed and enabled on the simulator's server.

Flags:
`

// storeFlags are the flags of every command that opens a server's store
// (serve, replay, admin link, plugin record), so they agree on its defaults.
func storeFlags(fs *flag.FlagSet) (db, dataDir *string) {
	db = fs.String("db", envOr("DB", "sqlite://./data/maid.db"), "store DSN: sqlite://PATH or postgres://...")
	dataDir = fs.String("data-dir", envOr("DATA_DIR", "./data"), "data directory: unpacked plugins and plugin SQL databases")
	return db, dataDir
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("serve", serveUsage, stderr)
	addr := fs.String("addr", envOr("ADDR", "127.0.0.1:8080"), "dashboard listen address")
	baseURL := fs.String("base-url", envOr("BASE_URL", ""), "external URL of the dashboard (default http://ADDR); https makes cookies Secure")
	db, dataDir := storeFlags(fs)
	var bf backendFlags
	bf.register(fs, 2)
	oauthID := fs.String("oauth-client-id", envOr("OAUTH_CLIENT_ID", ""), "Discord OAuth2 client id (enables \"Sign in with Discord\")")
	oauthSecret := fs.String("oauth-client-secret", envOr("OAUTH_CLIENT_SECRET", ""), "Discord OAuth2 client secret")
	oauthAuthorize := fs.String("oauth-authorize-url", envOr("OAUTH_AUTHORIZE_URL", ""), "override Discord's OAuth2 authorize URL (testing)")
	oauthToken := fs.String("oauth-token-url", envOr("OAUTH_TOKEN_URL", ""), "override Discord's OAuth2 token URL (testing)")
	oauthAPI := fs.String("oauth-api-url", envOr("OAUTH_API_URL", ""), "override Discord's API base URL (testing)")
	admins := fs.String("admins", envOr("ADMINS", ""), "comma-separated Discord user ids that may manage every server and install plugins")
	token := fs.String("discord-token", envOr("DISCORD_TOKEN", ""), "bot token; empty runs the local simulator instead of connecting to Discord")
	intents := fs.String("intents", envOr("INTENTS", discord.DefaultIntents), "gateway intents: names (guilds,guild_members,guild_messages,guild_message_reactions,message_content,...) or a bitmask")
	shardIDs := fs.String("shard-id", envOr("SHARD_ID", ""), "shards run by this process: 0, 0,2 or 0-3 (default: all of --shard-count)")
	shardCount := fs.Int("shard-count", envInt("SHARD_COUNT", 1), "total shard count of the bot")
	examples := fs.String("examples", envOr("EXAMPLES", "builtin"), "example plugins installed on first start when none are installed: \"builtin\" (the ones in the binary), a directory, or empty for none")
	iframes := fs.String("iframe-dashboards", envOr("IFRAME_DASHBOARDS", string(dashboard.IframeApprove)),
		"iframe-mode plugin dashboards: \"approve\" (shown once an admin approves each plugin, per version), \"on\" (all shown) or \"off\" (none); "+
			"an iframe can send what it shows off-site over WebRTC, which no browser policy blocks (docs/security.md)")
	proxies := fs.String("trusted-proxies", envOr("TRUSTED_PROXIES", ""), "comma-separated IP addresses or CIDR prefixes of the reverse proxies in front of the dashboard; sign-in limits then count the client their X-Forwarded-For names (ignored from anyone else)")
	maxConns := fs.Int("max-connections", envInt("MAX_CONNECTIONS", 512), "connections the dashboard holds open at most (idle ones are closed first when full); a reverse proxy is still advised in front of a public dashboard")
	var cf clusterFlags
	cf.register(fs)
	var tf trustFlags
	tf.register(fs)
	instances := fs.String("instances", envOr("INSTANCES", "per_plugin"), "instances of each plugin: \"per_plugin\" (one for all servers, unless a plugin's manifest asks \"instances\": \"per_server\") or \"per_server\" (one per plugin and server on every plugin, so module globals never mix servers)")
	idle := fs.Duration("idle-timeout", envDuration("IDLE_TIMEOUT", engine.DefaultLimits.IdleTimeout), "stop an instance unused this long and start it again on its next event or call (scale to zero); 0 never stops one")
	metricsFlush := fs.Duration("metrics-flush", envDuration("METRICS_FLUSH", time.Second), "how often built-in event metrics (messages, members) counted in memory are written to the store")
	noRecordings := fs.Bool("no-recordings", envBool("NO_RECORDINGS", false), "keep no recordings of failed plugin events (they hold server data; docs/security.md)")
	perServer := fs.String("per-server", envOr("PER_SERVER", "allow"), "a manifest's \"instances\": \"per_server\" (one instance, and its memory, per server the plugin is enabled on): \"allow\" or \"deny\" (such plugins run one instance for all servers)")
	maxInstances := fs.Int("max-instances", envInt("MAX_INSTANCES", 0), "most plugin instances running on this host at once; a start past it is refused and logged (0: no cap)")
	verbose := fs.Bool("v", false, "debug logging")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	if *instances != plugin.InstancesPerPlugin && *instances != plugin.InstancesPerServer {
		fmt.Fprintf(stderr, "maid serve: --instances: must be %q or %q, got %q\n", plugin.InstancesPerPlugin, plugin.InstancesPerServer, *instances)
		return 2
	}
	if *perServer != "allow" && *perServer != "deny" {
		fmt.Fprintf(stderr, "maid serve: --per-server: must be \"allow\" or \"deny\", got %q\n", *perServer)
		return 2
	}
	if *perServer == "deny" && *instances == plugin.InstancesPerServer {
		fmt.Fprintf(stderr, "maid serve: --per-server deny contradicts --instances per_server\n")
		return 2
	}
	if *maxInstances < 0 {
		fmt.Fprintf(stderr, "maid serve: --max-instances must be 0 (no cap) or more, got %d\n", *maxInstances)
		return 2
	}
	if *idle < 0 || *metricsFlush < 0 {
		fmt.Fprintf(stderr, "maid serve: --idle-timeout and --metrics-flush must not be negative\n")
		return 2
	}
	idleTimeout := *idle
	if idleTimeout == 0 {
		idleTimeout = -1 // engine.Limits: negative never stops
	}
	iframeMode, err := dashboard.ParseIframeMode(*iframes)
	if err != nil {
		fmt.Fprintf(stderr, "maid serve: --iframe-dashboards: %v\n", err)
		return 2
	}
	trustedProxies, err := dashboard.ParseTrustedProxies(*proxies)
	if err != nil {
		fmt.Fprintf(stderr, "maid serve: --trusted-proxies: %v\n", err)
		return 2
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	fail := func(what string, err error) int {
		log.Error(what, "err", err)
		return 1
	}

	if cf.url != "" {
		if !strings.HasSuffix(cf.url, "/") {
			cf.url += "/"
		}
		discord.PointAt(cf.url)
		if *token == "" {
			*token = fakeToken
		}
	}
	if cf.on && (*token == "" || *shardIDs != "") {
		return fail("cluster mode", errors.New("--cluster needs --discord-token (or --discord-url) and takes no --shard-id: shards are leased"))
	}
	// The port, then the database's single-instance lock, before the
	// store's migrations or anything else starts.
	ln, err := listenFirst(*addr)
	if err != nil {
		return fail("dashboard address", err)
	}
	defer ln.Close()
	if err := os.MkdirAll(*dataDir, 0o755); err != nil {
		return fail("create data dir", err)
	}
	if path, ok := strings.CutPrefix(*db, "sqlite://"); ok && path != "" {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return fail("create database directory", err)
		}
	}
	unlock, err := lockSQLite(*db)
	if err != nil {
		return fail("database", err)
	}
	defer unlock()
	st, err := openStore(ctx, *db, *dataDir, log)
	if err != nil {
		return fail("open store", err)
	}
	defer st.Close()
	if cf.on && st.Dialect() != "postgres" {
		return fail("cluster mode", errors.New("--cluster needs a PostgreSQL store (--db postgres://...): a SQLite file belongs to one node"))
	}
	backend, err := openBackend(ctx, bf, log)
	if err != nil {
		return fail("open sandbox backend", err)
	}
	defer backend.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := telemetry.NewPrometheus(reg, backend.Name())

	// The Discord side: the real gateway with a token, else the simulator.
	// The engine takes it as its Discord port; it gets the engine when its
	// actor starts.
	var (
		side   discordSide
		sim    *discord.Simulator
		gw     *discord.Gateway
		member *cluster.Member
	)
	if *token != "" {
		in, err := discord.ParseIntents(*intents)
		if err != nil {
			return fail("discord intents", err)
		}
		var ids []int
		if *shardIDs != "" {
			if ids, err = discord.ParseShards(*shardIDs, *shardCount); err != nil {
				return fail("discord shards", err)
			}
		}
		gcfg := discord.GatewayConfig{Token: *token, Intents: in, ShardCount: *shardCount, ShardIDs: ids, Logger: log, IdentifyDelay: cf.identify}
		if cf.on {
			gcfg.Cluster = &discord.ClusterConfig{Ledger: st, Node: cf.nodeID, Failed: func(s int) { member.ShardFailed(s) }}
		}
		gw, err = discord.NewGateway(gcfg)
		if err != nil {
			return fail("discord gateway", err)
		}
		side = gw
	} else {
		sim = discord.NewSimulator(discord.SimConfig{Logger: log})
		side = sim
		log.Info("no --discord-token: running the local simulator (see the dashboard's Simulator page)")
	}

	trusted, unsigned, err := tf.load()
	if err != nil {
		return fail("package signatures", err)
	}
	eng, err := engine.New(engine.Config{
		Store: st, Backend: backend, Discord: side, DataDir: *dataDir, Logger: log, Observer: metrics, HostVersion: version,
		TrustedKeys: trusted, Unsigned: unsigned,
		Instances: *instances, Limits: engine.Limits{IdleTimeout: idleTimeout}, MetricsFlush: *metricsFlush,
		NoRecording: *noRecordings, DenyPerServer: *perServer == "deny", MaxInstances: *maxInstances,
	})
	if err != nil {
		return fail("engine", err)
	}
	cfg := dashboard.Config{
		Engine: eng, Directory: side, Addr: *addr, BaseURL: *baseURL,
		OAuth: dashboard.OAuth{
			ClientID: *oauthID, ClientSecret: *oauthSecret,
			AuthorizeURL: *oauthAuthorize, TokenURL: *oauthToken, APIURL: *oauthAPI,
		},
		Admins: splitList(*admins), Ready: st.Ping, Gatherer: reg,
		Logger: log, Stdout: stdout, IframeDashboards: iframeMode, Approvals: st, Sessions: st,
		MaxConns: *maxConns, Publishers: splitList(tf.publishers), TrustedProxies: trustedProxies,
	}
	if sim != nil {
		cfg.Simulator = sim // a nil *Simulator must not become a non-nil interface
	}
	site, err := dashboard.New(cfg)
	if err != nil {
		return fail("dashboard", err)
	}

	actors := []actor{
		{"engine", eng.Run},
		{"discord", func(ctx context.Context) error { return side.Run(ctx, eng) }},
		actor{"dashboard", func(ctx context.Context) error {
			select {
			case <-eng.Ready():
			case <-ctx.Done():
				return nil
			}
			if sim != nil {
				select { // the simulator console posts through it
				case <-sim.Ready():
				case <-ctx.Done():
					return nil
				}
			}
			if sim != nil && *examples != "" {
				seedExamples(ctx, log, eng, *examples, discord.SimServerID)
			}
			return site.Serve(ctx, ln)
		}},
	}
	if gw != nil {
		// Plugins installed or removed from the dashboard change the slash
		// command set; the sync is one bulk overwrite, skipped when unchanged.
		actors = append(actors, actor{"commands", func(ctx context.Context) error {
			t := time.NewTicker(15 * time.Second)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-t.C:
					if err := gw.SyncCommands(ctx); err != nil && !errors.Is(err, discord.ErrNotReady) {
						log.Warn("sync slash commands", "err", err)
					}
				}
			}
		}})
	}
	if cf.on {
		if actors, err = clusterActors(ctx, log, cf, st, gw, eng, *shardCount, *addr, &member, actors); err != nil {
			return fail("cluster mode", err)
		}
	}
	err = runGroup(ctx, actors...)
	if err != nil {
		log.Error("maid serve stopped", "err", err)
		return 1
	}
	return 0
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// seedExamples installs the example plugins when nothing is installed yet
// and enables them on serverID, so a first `make run` shows something.
func seedExamples(ctx context.Context, log *slog.Logger, eng *engine.Engine, dir, serverID string) {
	if len(eng.Plugins()) > 0 {
		return
	}
	if dir == "builtin" {
		tmp, err := os.MkdirTemp("", "maid-examples-")
		if err != nil {
			log.Warn("extract example plugins", "err", err)
			return
		}
		defer os.RemoveAll(tmp)
		if err := sdk.ExtractExamples(tmp); err != nil {
			log.Warn("extract example plugins", "err", err)
			return
		}
		dir = tmp
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		log.Info("no example plugins to install", "dir", dir, "err", err)
		return
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, n := range names {
		pkg, err := eng.InstallPath(ctx, filepath.Join(dir, n))
		if err != nil {
			log.Warn("install example plugin", "plugin", n, "err", err)
			continue
		}
		if err := eng.SetEnabled(ctx, serverID, pkg.Manifest.ID, true); err != nil {
			log.Warn("enable example plugin", "plugin", pkg.Manifest.ID, "err", err)
			continue
		}
		log.Info("example plugin installed and enabled", "plugin", pkg.Manifest.ID, "server", serverID)
		if pkg.Manifest.ID == "welcome" && serverID == discord.SimServerID {
			// Greet simulated joins in #welcome out of the box.
			params := json.RawMessage(`{"values": {"channel_id": "` + discord.SimWelcome + `", "message": "Welcome to the server!"}}`)
			if _, err := eng.CallDashboard(ctx, "welcome", serverID, "save_settings", params); err != nil {
				log.Warn("configure welcome example", "err", err)
			}
		}
	}
}

// actor is one long-running part of maid serve.
type actor struct {
	name string
	run  func(ctx context.Context) error
}

// runGroup runs the actors until the first returns (or ctx ends), then
// cancels the rest and waits for all. It returns the first error any
// actor returned.
func runGroup(ctx context.Context, actors ...actor) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for _, a := range actors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := a.run(ctx)
			if err != nil {
				if !strings.HasPrefix(err.Error(), a.name+":") { // not "dashboard: dashboard: ..."
					err = fmt.Errorf("%s: %w", a.name, err)
				}
			}
			mu.Lock()
			if first == nil {
				first = err
			}
			mu.Unlock()
			cancel()
		}()
	}
	wg.Wait()
	return first
}

// discordSide is what serve needs of the Discord adapter it picks: the
// gateway or the simulator.
type discordSide interface {
	engine.Discord
	engine.Directory
	Run(ctx context.Context, h discord.Host) error
}
