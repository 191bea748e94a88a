package discord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"

	"github.com/maidhq/maid/engine"
)

// GatewayConfig configures a Gateway.
type GatewayConfig struct {
	// Token is the bot token (with or without the "Bot " prefix). Required.
	Token string
	// Intents is the gateway intents bitmask (see ParseIntents); 0 means
	// DefaultIntents.
	Intents int
	// ShardCount is the total number of shards of the bot (0 means 1);
	// ShardIDs are the shards this process runs (nil means all of them).
	ShardCount int
	ShardIDs   []int
	// Events are the dispatch types forwarded to plugins; nil means
	// DefaultEvents.
	Events []string
	Logger *slog.Logger
	// IdentifyDelay spaces the identify of successive shards (Discord
	// allows one identify per 5 s per concurrency bucket); 0 means 5 s.
	IdentifyDelay time.Duration
	// DispatchTimeout bounds how long one event waits for full plugin
	// queues before it is counted as overflow; 0 means 30 s.
	DispatchTimeout time.Duration
	// DeferAfter: Discord needs an answer to an interaction within 3 s, so
	// a command whose plugin has not answered within DeferAfter gets a
	// deferred response, edited when the plugin answers; 0 means 2 s.
	DeferAfter time.Duration
	// Cluster: Run opens no shard by itself; a cluster.Member starts and
	// stops them under leases (StartShard, StopShard) and every event is
	// claimed in Ledger before it is delivered (cluster.go).
	Cluster *ClusterConfig
}

// Gateway is a connection to Discord's gateway (one discordgo session per
// shard, all sharing one REST rate limiter). It forwards dispatches to the
// engine, performs plugin actions (engine.Discord), registers and routes
// slash commands, and answers engine.Directory from its guild state.
type Gateway struct {
	cfg     GatewayConfig
	token   string
	log     *slog.Logger
	allowed map[string]bool
	rest    *discordgo.Session // REST only; never opened

	host    atomic.Pointer[Host] // set by Run: where events and commands go
	running atomic.Bool
	stop    chan struct{} // closed when Run is shutting down
	regCh   chan struct{} // READY asks for a command sync

	mu        sync.RWMutex
	run       *runState // cluster mode: what StartShard needs of Run
	stopping  bool      // Run is shutting down: start no more goroutines
	shards    []*shard
	servers   map[string]engine.Server
	chanGuild map[string]string // channel → guild, learnt from REST
	sent      map[string]string // message id → "server/channel" of what this gateway sent and has not deleted
	lookups   *lookups          // failed REST lookups and per-server budgets
	botID     string
	appID     string

	budgetOnce  sync.Once // cluster mode: max_concurrency and daily budget, asked once
	maxConc     int
	dailyStarts int

	cmdMu      sync.Mutex
	registered string // JSON of the command set last registered

	forwarded  atomic.Int64
	duplicates atomic.Int64
	failed     atomic.Int64
	commands   atomic.Int64
}

// shard is one gateway session. seq/sessionID are touched by discordgo's
// event goroutine; mu guards them because discordgo can reconnect from its
// heartbeat goroutine as well.
type shard struct {
	id     int
	s      *discordgo.Session
	events chan item
	cl     *clusterShard // cluster mode: the lease and checkpoint state

	mu        sync.Mutex
	sessionID string
	lastSeq   int64
	ready     bool
}

// NewGateway checks cfg and prepares (but does not open) the sessions.
func NewGateway(cfg GatewayConfig) (*Gateway, error) {
	token := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(cfg.Token), "Bot "))
	if token == "" {
		return nil, fmt.Errorf("discord gateway: %w: token is required", engine.ErrInvalid)
	}
	if cfg.ShardCount <= 0 {
		cfg.ShardCount = 1
	}
	if cfg.ShardIDs == nil && cfg.Cluster == nil {
		for i := 0; i < cfg.ShardCount; i++ {
			cfg.ShardIDs = append(cfg.ShardIDs, i)
		}
	}
	seen := map[int]bool{}
	for _, id := range cfg.ShardIDs {
		if id < 0 || id >= cfg.ShardCount || seen[id] {
			return nil, fmt.Errorf("discord gateway: %w: shard ids %v must be distinct and in [0, %d)", engine.ErrInvalid, cfg.ShardIDs, cfg.ShardCount)
		}
		seen[id] = true
	}
	if cfg.Intents == 0 {
		cfg.Intents, _ = ParseIntents(DefaultIntents)
	}
	if cfg.IdentifyDelay <= 0 {
		cfg.IdentifyDelay = 5 * time.Second
	}
	if cfg.DispatchTimeout <= 0 {
		cfg.DispatchTimeout = 30 * time.Second
	}
	if cfg.DeferAfter <= 0 {
		cfg.DeferAfter = 2 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	rest, err := discordgo.New("Bot " + token)
	if err != nil {
		return nil, fmt.Errorf("discord gateway: %w", err)
	}
	rest.Client = &http.Client{Timeout: 20 * time.Second}
	return &Gateway{
		cfg: cfg, token: token, log: log.With("component", "discord"), allowed: allowSet(cfg.Events), rest: rest,
		stop: make(chan struct{}), regCh: make(chan struct{}, 1),
		servers: map[string]engine.Server{}, chanGuild: map[string]string{}, sent: map[string]string{}, lookups: newLookups(nil),
	}, nil
}

// hostOrNil is the engine Run was given, or nil before Run.
func (g *Gateway) hostOrNil() Host {
	if p := g.host.Load(); p != nil {
		return *p
	}
	return nil
}

// GatewayStats counts what the gateway did.
type GatewayStats struct {
	Shards     int   `json:"shards"`     // sessions that received READY
	Forwarded  int64 `json:"forwarded"`  // events handed to the engine
	Duplicates int64 `json:"duplicates"` // replayed dispatches dropped
	Failed     int64 `json:"failed"`     // events the engine refused or overflowed
	Commands   int64 `json:"commands"`   // slash commands routed
	Servers    int   `json:"servers"`    // guilds in the registry
}

// Stats returns the gateway's counters.
func (g *Gateway) Stats() GatewayStats {
	g.mu.RLock()
	st := GatewayStats{Servers: len(g.servers)}
	shards := g.shards
	g.mu.RUnlock()
	for _, sh := range shards {
		sh.mu.Lock()
		if sh.ready {
			st.Shards++
		}
		sh.mu.Unlock()
	}
	st.Forwarded, st.Duplicates, st.Failed, st.Commands = g.forwarded.Load(), g.duplicates.Load(), g.failed.Load(), g.commands.Load()
	return st
}

// Run opens every shard and serves until ctx ends; discordgo reconnects
// and resumes dropped sessions by itself. Run returns an error only when
// Discord refuses the bot (bad token, disallowed intents, bad shard).
// Events go to h.Dispatch and slash commands to h.CallCommand. The engine
// takes the gateway as its Discord port, so it is built first and handed
// over here, when the gateway starts.
func (g *Gateway) Run(ctx context.Context, h Host) error {
	if h == nil {
		return errors.New("run discord gateway: host is nil")
	}
	if !g.running.CompareAndSwap(false, true) {
		return errors.New("run discord gateway: already running")
	}
	g.host.Store(&h)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup // consumers, command sync, interactions
	defer func() {
		close(g.stop)
		g.mu.Lock()
		g.stopping = true
		shards := g.shards
		g.mu.Unlock()
		for _, sh := range shards {
			if sh.cl != nil { // keep the session resumable for the next owner
				sh.mu.Lock()
				sh.cl.stopped = true
				sh.mu.Unlock()
				sh.cl.cancel()
				g.closeShard(sh)
				continue
			}
			sh.s.ShouldReconnectOnError = false
			_ = sh.s.Close()
		}
		cancel()
		wg.Wait()
		for _, sh := range shards {
			if sh.cl != nil {
				sh.cl.wg.Wait()
			}
		}
	}()

	wg.Add(1)
	go func() { defer wg.Done(); g.commandLoop(ctx) }()

	if g.cfg.Cluster != nil {
		g.mu.Lock()
		g.run = &runState{ctx: ctx, h: h, wg: &wg}
		g.mu.Unlock()
		<-ctx.Done()
		return nil
	}
	for i, id := range g.cfg.ShardIDs {
		if i > 0 {
			select {
			case <-time.After(g.cfg.IdentifyDelay):
			case <-ctx.Done():
				return nil
			}
		}
		sh := g.newShard(ctx, id, h, &wg)
		g.mu.Lock()
		g.shards = append(g.shards, sh)
		g.mu.Unlock()
		wg.Add(1)
		go func() { defer wg.Done(); g.consume(ctx, h, sh) }()
		if err := g.open(ctx, sh); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
}

func (g *Gateway) newShard(ctx context.Context, id int, h Host, wg *sync.WaitGroup) *shard {
	s, _ := discordgo.New("Bot " + g.token) // cannot fail
	s.ShardID, s.ShardCount = id, g.cfg.ShardCount
	s.Identify.Intents = discordgo.Intent(g.cfg.Intents)
	s.Ratelimiter = g.rest.Ratelimiter // one bot, one set of REST buckets
	s.Client = g.rest.Client
	// Events in order on discordgo's reading goroutine: the dedupe below
	// and per-server ordering depend on it. Handlers only enqueue.
	s.SyncEvents = true
	s.StateEnabled = true
	s.State.MaxMessageCount = 0
	sh := &shard{id: id, s: s, events: make(chan item, 1024)}
	s.AddHandler(func(_ *discordgo.Session, e *discordgo.Event) { g.onDispatch(ctx, h, sh, e, wg) })
	return sh
}

// open opens a shard, retrying transient failures with backoff until ctx
// ends; refusals that retrying cannot fix are returned.
func (g *Gateway) open(ctx context.Context, sh *shard) error {
	wait := time.Second
	for {
		err := sh.s.Open()
		if err == nil || errors.Is(err, discordgo.ErrWSAlreadyOpen) {
			g.log.Info("gateway shard open", "shard", sh.id, "shards", g.cfg.ShardCount)
			return nil
		}
		if fatal := fatalOpenError(err); fatal != nil {
			return fmt.Errorf("open discord gateway shard %d: %w", sh.id, fatal)
		}
		g.log.Warn("gateway shard open failed; retrying", "shard", sh.id, "err", err, "in", wait)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil
		}
		wait = min(wait*2, time.Minute)
	}
}

// fatalOpenError explains errors that reconnecting cannot fix.
func fatalOpenError(err error) error {
	var rest *discordgo.RESTError
	if errors.As(err, &rest) && rest.Response != nil && rest.Response.StatusCode == http.StatusUnauthorized {
		return fmt.Errorf("the bot token was refused (HTTP 401): %w", err)
	}
	if errors.Is(err, discordgo.ErrWSShardBounds) {
		return err
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		switch ce.Code {
		case 4004:
			return fmt.Errorf("authentication failed (close 4004): check the bot token: %w", err)
		case 4010, 4011:
			return fmt.Errorf("invalid shard or sharding required (close %d): set --shard-count: %w", ce.Code, err)
		case 4012:
			return fmt.Errorf("invalid gateway API version (close 4012): %w", err)
		case 4013, 4014:
			return fmt.Errorf("invalid or disallowed intents (close %d): enable the privileged intents (server members, message content) for the bot in Discord's developer portal, or pass --intents without them: %w", ce.Code, err)
		}
	}
	return nil
}

// onDispatch runs on discordgo's reading goroutine for every dispatch, in
// sequence order. It drops dispatches already delivered in this session
// (a resume may replay them) and enqueues the rest.
func (g *Gateway) onDispatch(ctx context.Context, h Host, sh *shard, e *discordgo.Event, wg *sync.WaitGroup) {
	sh.mu.Lock()
	switch {
	case e.Type == "READY":
		var r struct {
			SessionID   string              `json:"session_id"`
			User        struct{ ID string } `json:"user"`
			Application struct{ ID string } `json:"application"`
		}
		_ = json.Unmarshal(e.RawData, &r)
		sh.sessionID, sh.lastSeq, sh.ready = r.SessionID, e.Sequence, true
		if sh.cl != nil {
			sh.cl.readyLocked(e.RawData, e.Sequence)
		}
		sh.mu.Unlock()
		g.mu.Lock()
		g.botID, g.appID = r.User.ID, r.Application.ID
		g.mu.Unlock()
		select {
		case g.regCh <- struct{}{}:
		default:
		}
		return
	case e.Sequence <= sh.lastSeq:
		sh.mu.Unlock()
		g.duplicates.Add(1)
		g.log.Debug("dropped replayed dispatch", "shard", sh.id, "seq", e.Sequence, "type", e.Type)
		return
	case sh.cl != nil && sh.cl.stopped:
		sh.mu.Unlock()
		return // handed over or lost: the next owner delivers it
	}
	sh.lastSeq = e.Sequence
	sessionID := sh.sessionID
	sh.mu.Unlock()

	g.track(e.Type, e.RawData)
	ev, ok, err := eventFromDispatch(e.Type, e.RawData, g.allowed)
	if err != nil {
		g.log.Warn("bad dispatch", "shard", sh.id, "err", err)
	}
	if err != nil || !ok {
		if sh.cl != nil { // passed, for the checkpoint
			g.enqueue(sh, item{seq: e.Sequence, session: sessionID})
		}
		return
	}
	if sh.cl != nil {
		deliver, fence := g.claim(ctx, sh, sessionID, e.Sequence)
		if !deliver {
			if fence != nil { // a replay already handled
				g.enqueue(sh, item{seq: e.Sequence, session: sessionID})
			}
			return
		}
		ev.Fence = fence
	}
	if ev.Type == "interaction_create" {
		// Answered apart from the event queue: Discord wants an answer
		// within 3 s. wg.Add under mu, so it never races Run's wg.Wait.
		g.mu.Lock()
		if !g.stopping {
			wg.Add(1)
			go func() { defer wg.Done(); g.interaction(ctx, h, ev) }()
		}
		g.mu.Unlock()
	}
	g.enqueue(sh, item{ev: ev, forward: true, seq: e.Sequence, session: sessionID})
}

// item is one dispatch on its way to the engine, in sequence order;
// forward false: not for plugins (only its seq counts, in cluster mode).
type item struct {
	ev      engine.Event
	forward bool
	seq     int64
	session string
	flush   chan struct{} // non-nil: closed when the consumer reaches it
}

func (g *Gateway) enqueue(sh *shard, it item) {
	var stopped <-chan struct{}
	if sh.cl != nil {
		stopped = sh.cl.ctx.Done()
	}
	select {
	case sh.events <- it:
	case <-g.stop:
	case <-stopped:
	}
}

// consume hands a shard's events to the engine, in order.
func (g *Gateway) consume(ctx context.Context, h Host, sh *shard) {
	for {
		select {
		case it := <-sh.events:
			if it.flush != nil {
				close(it.flush)
				continue
			}
			if it.forward {
				ev := it.ev
				dctx, cancel := context.WithTimeout(ctx, g.cfg.DispatchTimeout)
				err := h.Dispatch(dctx, ev)
				cancel()
				if err != nil {
					g.failed.Add(1)
					g.log.Warn("dispatch event", "type", ev.Type, "server", ev.ServerID, "err", err)
				} else {
					g.forwarded.Add(1)
				}
			}
			if sh.cl != nil {
				sh.cl.passed(it.session, it.seq)
			}
		case <-ctx.Done():
			return
		}
	}
}

// track keeps the server registry from guild_create/update/delete, and
// forgets a remembered failed member lookup when that user joins.
func (g *Gateway) track(typ string, raw json.RawMessage) {
	switch typ {
	case "GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE":
	case "GUILD_MEMBER_ADD":
		var m struct {
			GuildID string              `json:"guild_id"`
			User    struct{ ID string } `json:"user"`
		}
		if json.Unmarshal(raw, &m) == nil {
			g.lookups.forget("member:" + m.GuildID + "/" + m.User.ID)
		}
		return
	default:
		return
	}
	var gd struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		Icon        string `json:"icon"`
		Unavailable bool   `json:"unavailable"`
	}
	if json.Unmarshal(raw, &gd) != nil || !snowflakeRe.MatchString(gd.ID) {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if typ == "GUILD_DELETE" {
		if !gd.Unavailable { // unavailable: an outage, the bot is still in it
			delete(g.servers, gd.ID)
		}
		return
	}
	srv := engine.Server{ID: gd.ID, Name: gd.Name}
	if gd.Icon != "" {
		srv.IconURL = discordgo.EndpointGuildIcon(gd.ID, gd.Icon)
	}
	g.servers[gd.ID] = srv
}

// Servers lists the guilds the bot is in (engine.Directory).
func (g *Gateway) Servers(ctx context.Context) ([]engine.Server, error) {
	g.mu.RLock()
	out := make([]engine.Server, 0, len(g.servers))
	for _, s := range g.servers {
		out = append(out, s)
	}
	g.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// withGuild runs fn on a guild from the state of the shard that has it,
// under that state's read lock; it reports whether the guild was found.
func (g *Gateway) withGuild(id string, fn func(*discordgo.Guild)) bool {
	g.mu.RLock()
	shards := g.shards
	g.mu.RUnlock()
	for _, sh := range shards {
		st := sh.s.State
		gd, err := st.Guild(id)
		if err != nil {
			continue
		}
		st.RLock() // discordgo mutates guilds under this lock
		fn(gd)
		st.RUnlock()
		return true
	}
	return false
}

var channelTypeNames = map[discordgo.ChannelType]string{
	discordgo.ChannelTypeGuildText: "text", discordgo.ChannelTypeGuildVoice: "voice",
	discordgo.ChannelTypeGuildCategory: "category", discordgo.ChannelTypeGuildNews: "announcement",
	discordgo.ChannelTypeGuildNewsThread: "thread", discordgo.ChannelTypeGuildPublicThread: "thread",
	discordgo.ChannelTypeGuildPrivateThread: "thread", discordgo.ChannelTypeGuildStageVoice: "stage",
	discordgo.ChannelTypeGuildForum: "forum", discordgo.ChannelTypeGuildMedia: "media",
}

// Channels lists a server's channels, from state or REST.
func (g *Gateway) Channels(ctx context.Context, serverID string) ([]engine.Channel, error) {
	if err := checkID("server id", serverID); err != nil {
		return nil, err
	}
	var chans []*discordgo.Channel
	g.withGuild(serverID, func(gd *discordgo.Guild) { chans = append(chans, gd.Channels...) })
	if len(chans) == 0 {
		var err error
		if chans, err = g.rest.GuildChannels(serverID, discordgo.WithContext(ctx)); err != nil {
			return nil, fmt.Errorf("channels of %s: %w", serverID, err)
		}
	}
	sort.SliceStable(chans, func(i, j int) bool { return chans[i].Position < chans[j].Position })
	out := make([]engine.Channel, 0, len(chans))
	for _, c := range chans {
		t := channelTypeNames[c.Type]
		if t == "" {
			t = fmt.Sprint(int(c.Type))
		}
		out = append(out, engine.Channel{ID: c.ID, Name: c.Name, Type: t})
	}
	return out, nil
}

// Roles lists a server's roles, from state or REST.
func (g *Gateway) Roles(ctx context.Context, serverID string) ([]engine.Role, error) {
	roles, err := g.roles(ctx, serverID)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(roles, func(i, j int) bool { return roles[i].Position > roles[j].Position })
	out := make([]engine.Role, 0, len(roles))
	for _, r := range roles {
		out = append(out, engine.Role{ID: r.ID, Name: r.Name, Color: r.Color})
	}
	return out, nil
}

func (g *Gateway) roles(ctx context.Context, serverID string) ([]*discordgo.Role, error) {
	if err := checkID("server id", serverID); err != nil {
		return nil, err
	}
	var roles []*discordgo.Role
	g.withGuild(serverID, func(gd *discordgo.Guild) { roles = append(roles, gd.Roles...) })
	if len(roles) > 0 {
		return roles, nil
	}
	// Not in the state (the bot left the server, the guild is unavailable
	// or not yet created): a lookup like any other, within the budgets
	// (lookups.go), its definite failure remembered, since a plugin's
	// add_role/remove_role on such a server would otherwise make a
	// failing request per call (attack X).
	key := "roles:" + serverID
	if g.lookups.failed(key) {
		return nil, fmt.Errorf("roles of %s: not found on Discord (a failed lookup, remembered for %s)", serverID, lookupMissTTL)
	}
	if err := g.lookups.take("roles", serverID); err != nil {
		return nil, fmt.Errorf("roles of %s: %w", serverID, err)
	}
	roles, err := g.rest.GuildRoles(serverID, discordgo.WithContext(ctx))
	if err != nil {
		if definite(err) {
			g.lookups.remember(key)
		}
		return nil, fmt.Errorf("roles of %s: %w", serverID, err)
	}
	g.lookups.refund(serverID)
	return roles, nil
}

// Members lists up to limit members of a server, from state or REST.
func (g *Gateway) Members(ctx context.Context, serverID string, limit int) ([]engine.Member, error) {
	if err := checkID("server id", serverID); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	var members []*discordgo.Member
	g.withGuild(serverID, func(gd *discordgo.Guild) { members = append(members, gd.Members...) })
	if len(members) == 0 {
		var err error
		if members, err = g.rest.GuildMembers(serverID, "", limit, discordgo.WithContext(ctx)); err != nil {
			return nil, fmt.Errorf("members of %s: %w", serverID, err)
		}
	}
	out := make([]engine.Member, 0, len(members))
	for _, m := range members {
		if m.User == nil {
			continue
		}
		name := m.Nick
		if name == "" {
			name = m.User.GlobalName
		}
		if name == "" {
			name = m.User.Username
		}
		out = append(out, engine.Member{ID: m.User.ID, Name: name, Bot: m.User.Bot})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

var (
	_ engine.Discord   = (*Gateway)(nil)
	_ engine.Directory = (*Gateway)(nil)
)
