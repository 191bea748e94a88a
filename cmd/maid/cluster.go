package main

// maid fakediscord, maid cluster status|drain, and serve's cluster mode
// wiring (serve --cluster, --discord-url).

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/maidhq/maid/cluster"
	"github.com/maidhq/maid/discord"
	"github.com/maidhq/maid/discord/fakediscord"
	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/store"
)

const fakeUsage = `Usage: maid fakediscord [flags]

Runs a fake Discord (gateway and REST) with M guilds over N shards and a
deterministic stream of message_create events (message n to guild n % M).
It honours IDENTIFY limits (one per max_concurrency bucket every
--identify-interval, --session-starts in all) and RESUME (replaying what a
session missed). GET /stats reports dispatches per shard and the REST
actions received; GET /stream lists the ids of the messages dispatched.
Point maid at it with: maid serve --discord-url http://ADDR/

Flags:
`

func runFakeDiscord(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("fakediscord", fakeUsage, stderr)
	addr := fs.String("addr", envOr("FAKE_ADDR", "127.0.0.1:8090"), "listen address")
	shards := fs.Int("shards", envInt("FAKE_SHARDS", 8), "shard count the guilds are spread over")
	guilds := fs.Int("guilds", envInt("FAKE_GUILDS", 16), "guilds")
	rate := fs.Float64("rate", 10, "message_create events per second, over all guilds")
	messages := fs.Int("messages", 0, "stop the stream after this many messages (0: never)")
	identify := fs.Duration("identify-interval", 5*time.Second, "at most one IDENTIFY per max_concurrency bucket in this interval (Discord: 5s)")
	conc := fs.Int("max-concurrency", 1, "max_concurrency reported by /gateway/bot")
	starts := fs.Int("session-starts", 1000, "session starts allowed in all")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *shards < 1 || *guilds < 1 || *rate <= 0 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "maid fakediscord: --shards and --guilds must be at least 1 and --rate above 0")
		return 2
	}
	srv, err := fakediscord.Listen(*addr, fakediscord.StreamGuilds(*guilds, *shards)...)
	if err != nil {
		fmt.Fprintf(stderr, "maid fakediscord: %v\n", err)
		return 1
	}
	defer srv.Close()
	srv.SetHeartbeat(5 * time.Second)
	srv.SetIdentifyLimits(*identify, *conc, *starts)
	srv.StartStream(*rate, *messages)
	fmt.Fprintf(stdout, "fake discord on %s (token %s): %d guilds over %d shards, %.1f messages/s\n", srv.URL, srv.Token, *guilds, *shards, *rate)
	<-ctx.Done()
	return 0
}

const clusterUsage = `Usage:
  maid cluster status [--db DSN] [--json]   nodes, shard leases, generations and lag
  maid cluster drain  [--db DSN] [--wait] NODE
                                            hand NODE's shards over; NODE exits after

Flags:
`

func runCluster(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "status" && args[0] != "drain") {
		fmt.Fprint(stderr, clusterUsage)
		return 2
	}
	sub := args[0]
	fs := newFlags("cluster "+sub, clusterUsage, stderr)
	db := fs.String("db", envOr("DB", ""), "the cluster's PostgreSQL DSN")
	asJSON := fs.Bool("json", false, "status: print JSON")
	wait := fs.Bool("wait", false, "drain: wait until the node has left")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *db == "" {
		fmt.Fprintln(stderr, "maid cluster: --db (or MAID_DB) must name the cluster's PostgreSQL")
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := store.Open(ctx, *db, store.Options{Logger: log, MaxOpenConns: 2})
	if err != nil {
		fmt.Fprintf(stderr, "maid cluster: %v\n", err)
		return 1
	}
	defer st.Close()
	switch sub {
	case "status":
		if fs.NArg() != 0 {
			fs.Usage()
			return 2
		}
		return clusterStatus(ctx, st, *asJSON, stdout, stderr)
	default:
		if fs.NArg() != 1 {
			fs.Usage()
			return 2
		}
		node := fs.Arg(0)
		if err := st.SetDraining(ctx, node); err != nil {
			fmt.Fprintf(stderr, "maid cluster drain: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "node %s asked to drain\n", node)
		for *wait {
			nodes, err := st.Nodes(ctx, time.Minute)
			if err != nil {
				fmt.Fprintf(stderr, "maid cluster drain: %v\n", err)
				return 1
			}
			gone := true
			for _, n := range nodes {
				if n.ID == node && !n.Left {
					gone = false
				}
			}
			if gone {
				fmt.Fprintf(stdout, "node %s left\n", node)
				return 0
			}
			select {
			case <-time.After(250 * time.Millisecond):
			case <-ctx.Done():
				return 1
			}
		}
		return 0
	}
}

// clusterTTL is the node liveness window status judges by.
const clusterTTL = 10 * time.Second

func clusterStatus(ctx context.Context, st *store.Store, asJSON bool, stdout, stderr io.Writer) int {
	nodes, err := st.Nodes(ctx, clusterTTL)
	var leases []cluster.Lease
	if err == nil {
		leases, err = st.Leases(ctx)
	}
	if err != nil {
		fmt.Fprintf(stderr, "maid cluster status: %v\n", err)
		return 1
	}
	if asJSON {
		out, _ := json.MarshalIndent(map[string]any{"nodes": nodes, "leases": leases}, "", "  ")
		fmt.Fprintln(stdout, string(out))
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tADDR\tSTATE\tHEARTBEAT\tSHARDS")
	owned := map[string][]string{}
	for _, l := range leases {
		if l.Node != "" && !l.Expired {
			owned[l.Node] = append(owned[l.Node], fmt.Sprint(l.Shard))
		}
	}
	for _, n := range nodes {
		state := "live"
		switch {
		case n.Left:
			state = "left"
		case !n.Live:
			state = "dead"
		case n.Draining:
			state = "draining"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s ago\t%s\n", n.ID, n.Addr, state, time.Since(n.HeartbeatAt).Round(100*time.Millisecond), strings.Join(owned[n.ID], ","))
	}
	tw.Flush()
	fmt.Fprintln(stdout)
	tw = tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SHARD\tNODE\tGENERATION\tHANDOVERS\tEXPIRES\tSESSION\tSEQ\tLAG")
	for _, l := range leases {
		node, exp := l.Node, time.Until(l.ExpiresAt).Round(100*time.Millisecond).String()
		if node == "" {
			node, exp = "-", "free"
		} else if l.Expired {
			exp = "expired"
		}
		lag := "-"
		if l.Lag >= 0 {
			lag = (time.Duration(l.Lag * float64(time.Second))).Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%d/%d\t%s\t%d\t%d\t%s\t%s\t%d\t%s\n", l.Shard, l.ShardCount, node, l.Generation, l.Handovers, exp, orDash(l.Session.ID), l.Session.Seq, lag)
	}
	tw.Flush()
	return 0
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// clusterFlags are serve's cluster-mode flags.
type clusterFlags struct {
	on       bool
	nodeID   string
	leaseTTL time.Duration
	identify time.Duration
	url      string
}

func (c *clusterFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&c.on, "cluster", envBool("CLUSTER", false), "cluster mode: shards are leased through the PostgreSQL store (--db postgres://...) and balanced over every node (docs/operations.md)")
	host, _ := os.Hostname()
	fs.StringVar(&c.nodeID, "node-id", envOr("NODE_ID", fmt.Sprintf("%s-%d", host, os.Getpid())), "cluster mode: this node's id, unique in the cluster")
	fs.DurationVar(&c.leaseTTL, "lease-ttl", 10*time.Second, "cluster mode: a shard lease's time to live (renewed every quarter of it)")
	fs.DurationVar(&c.identify, "identify-interval", 5*time.Second, "spacing of IDENTIFYs per max_concurrency bucket (Discord allows one per 5s)")
	fs.StringVar(&c.url, "discord-url", envOr("DISCORD_URL", ""), "Discord's base URL, gateway and REST (a `maid fakediscord`, e.g. http://127.0.0.1:8090/); with no --discord-token the fake's token is used")
}

// fakeToken is the token maid fakediscord accepts.
const fakeToken = "fake-token"

// clusterActors builds the member and the plugin watcher and orders
// shutdown: the member hands its shards over (which needs the gateway and
// the engine to handle what was taken) before the others stop.
func clusterActors(ctx context.Context, log *slog.Logger, cf clusterFlags, st *store.Store, gw *discord.Gateway, eng *engine.Engine,
	shardCount int, addr string, member **cluster.Member, actors []actor) ([]actor, error) {
	watcher := cluster.NewPluginWatcher(st, eng, 0, log)
	hctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	head, err := watcher.Head(hctx) // before the engine loads the plugins
	cancel()
	if err != nil {
		return nil, err
	}
	m, err := cluster.New(cluster.Config{
		Store: st, Shards: gw, NodeID: cf.nodeID, Addr: addr, ShardCount: shardCount, LeaseTTL: cf.leaseTTL, Logger: log,
		OnNotify: func(string) { watcher.Wake() },
	})
	if err != nil {
		return nil, err
	}
	*member = m
	memberCtx, memberDone := context.WithCancel(context.Background())
	// The others run until the member has left (or failed to join).
	afterMember := func(run func(context.Context) error) func(context.Context) error {
		return func(ctx context.Context) error {
			ictx, cancel := context.WithCancel(context.WithoutCancel(ctx))
			defer cancel()
			stop := context.AfterFunc(memberCtx, cancel)
			defer stop()
			return run(ictx)
		}
	}
	out := make([]actor, 0, len(actors)+2)
	for _, a := range actors {
		if a.name == "engine" || a.name == "discord" {
			a.run = afterMember(a.run)
		}
		out = append(out, a)
	}
	out = append(out,
		actor{"cluster", func(ctx context.Context) error {
			defer memberDone()
			select { // shards need the engine
			case <-eng.Ready():
			case <-ctx.Done():
				return nil
			}
			return m.Run(ctx)
		}},
		actor{"plugin-sync", func(ctx context.Context) error {
			select {
			case <-eng.Ready():
			case <-ctx.Done():
				return nil
			}
			return watcher.Run(ctx, head)
		}},
	)
	return out, nil
}
