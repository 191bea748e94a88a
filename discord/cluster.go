package discord

// Cluster mode: shards started and stopped by a cluster.Member under
// leases. Every event is claimed in the ledger (fenced by the lease)
// before it reaches the engine, the session is checkpointed once the
// events up to a sequence are handled, and a shard taken over from
// another node RESUMEs that session, so Discord replays what was missed.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"

	"github.com/maidhq/maid/cluster"
	"github.com/maidhq/maid/engine"
)

// Ledger is the part of cluster.Store the gateway writes to; every write
// carries the lease and is refused (cluster.ErrFenced) once it moved on.
type Ledger interface {
	Claim(ctx context.Context, l cluster.Lease, sessionID string, seq int64) (deliver bool, err error)
	Checkpoint(ctx context.Context, l cluster.Lease, s cluster.Session) error
	TakeIdentify(ctx context.Context, bucket int, spacing time.Duration, dailyLimit int) (time.Duration, error)
	IdentifySent(ctx context.Context, bucket int, spacing time.Duration) error
}

// ClusterConfig configures cluster mode.
type ClusterConfig struct {
	Ledger Ledger
	Node   string // this node's id (in every fence)
	// CheckpointEvery is how often a shard's handled sequence is saved;
	// 0 means 250ms. What was not saved is replayed to the next owner and
	// recognised by the ledger.
	CheckpointEvery time.Duration
	// Failed is told of a shard that stopped by itself (a write was
	// fenced, or the database failed under a claim).
	Failed func(shard int)
}

// runState is what StartShard needs of a running Run.
type runState struct {
	ctx context.Context
	h   Host
	wg  *sync.WaitGroup
}

// clusterShard is a shard's cluster state.
type clusterShard struct {
	lease     cluster.Lease
	ctx       context.Context // ends when the shard stops
	cancel    context.CancelFunc
	wg        sync.WaitGroup // consumer, checkpointer, opener
	reconnect chan struct{}  // the websocket dropped: open (resume) again

	// Guarded by the shard's mu.
	stopped   bool
	resumeURL string

	passedSID string
	passedSeq int64
	savedSID  string
	savedSeq  int64
	pmu       sync.Mutex // guards passed* and saved*
}

func (c *clusterShard) readyLocked(raw json.RawMessage, seq int64) {
	var r struct {
		ResumeURL string `json:"resume_gateway_url"`
	}
	_ = json.Unmarshal(raw, &r)
	c.resumeURL = r.ResumeURL
}

// passed records that every dispatch up to seq of session went to the
// engine (the consumer handles them in order).
func (c *clusterShard) passed(session string, seq int64) {
	c.passedMu().Lock()
	c.passedSID, c.passedSeq = session, seq
	c.passedMu().Unlock()
}

// passedMu guards passed*/saved*; a separate lock from the shard's, as
// the consumer must never wait on discordgo's reading goroutine.
func (c *clusterShard) passedMu() *sync.Mutex { return &c.pmu }

// claim records a dispatch in the ledger. deliver false with a fence:
// already handled (a replay); without: the shard is stopping (fenced, or
// the database failed).
func (g *Gateway) claim(ctx context.Context, sh *shard, sessionID string, seq int64) (bool, *engine.Fence) {
	c := g.cfg.Cluster
	l := sh.cl.lease
	cctx, cancel := context.WithTimeout(sh.cl.ctx, 5*time.Second)
	deliver, err := c.Ledger.Claim(cctx, l, sessionID, seq)
	cancel()
	if err != nil {
		if sh.cl.ctx.Err() == nil {
			g.log.Warn("claim event; stopping the shard", "shard", sh.id, "seq", seq, "err", err)
			go g.fail(sh)
		}
		return false, nil
	}
	f := &engine.Fence{Shard: sh.id, Node: c.Node, Generation: l.Generation, Event: cluster.EventKey(sh.id, sessionID, seq)}
	if !deliver {
		g.duplicates.Add(1)
		g.log.Debug("dropped dispatch handled before a hand-over", "shard", sh.id, "seq", seq)
	}
	return deliver, f
}

// fail stops a shard that cannot go on and tells the member.
func (g *Gateway) fail(sh *shard) {
	g.AbandonShard(sh.id)
	if f := g.cfg.Cluster.Failed; f != nil {
		f(sh.id)
	}
}

// StartShard opens a shard under l (cluster.Shards): RESUME of the
// lease's session when it has one, else IDENTIFY once the cluster-wide
// identify slot of its max_concurrency bucket is taken.
func (g *Gateway) StartShard(ctx context.Context, l cluster.Lease) error {
	if g.cfg.Cluster == nil {
		return errors.New("start shard: the gateway is not in cluster mode")
	}
	g.mu.Lock()
	rs := g.run
	dup := false
	for _, sh := range g.shards {
		dup = dup || sh.id == l.Shard
	}
	stopping := g.stopping
	g.mu.Unlock()
	if rs == nil || stopping {
		return fmt.Errorf("start shard %d: %w", l.Shard, ErrNotReady)
	}
	if dup {
		return fmt.Errorf("start shard %d: already running here", l.Shard)
	}
	if l.Shard < 0 || l.Shard >= g.cfg.ShardCount {
		return fmt.Errorf("start shard %d: %w: outside the shard count %d", l.Shard, engine.ErrInvalid, g.cfg.ShardCount)
	}
	sh := g.newShard(rs.ctx, l.Shard, rs.h, rs.wg)
	sctx, cancel := context.WithCancel(rs.ctx)
	sh.cl = &clusterShard{lease: l, ctx: sctx, cancel: cancel, reconnect: make(chan struct{}, 1)}
	// discordgo's own reconnect loop would reopen a shard this node has
	// stopped (it keeps trying, and the flag that stops it cannot be
	// changed once the session runs without a data race): this shard
	// reconnects from openLeased, which stops with the shard.
	sh.s.ShouldReconnectOnError = false
	sh.s.AddHandler(func(*discordgo.Session, *discordgo.Disconnect) {
		select {
		case sh.cl.reconnect <- struct{}{}:
		default:
		}
	})
	if l.Session.ID != "" {
		if setResume(sh.s, l.Session) {
			// Dispatches up to the checkpoint were handled: a replay of
			// them is dropped without a claim.
			sh.sessionID, sh.lastSeq = l.Session.ID, l.Session.Seq
			sh.cl.passedSID, sh.cl.passedSeq = l.Session.ID, l.Session.Seq
			sh.cl.savedSID, sh.cl.savedSeq = l.Session.ID, l.Session.Seq
			sh.cl.resumeURL = l.Session.ResumeURL
		} else {
			g.log.Warn("cannot resume with this discordgo build; identifying", "shard", l.Shard)
		}
	}
	identify := sh.sessionID == ""
	g.mu.Lock()
	g.shards = append(g.shards, sh)
	g.mu.Unlock()
	sh.cl.wg.Add(3)
	go func() { defer sh.cl.wg.Done(); g.consume(sctx, rs.h, sh) }()
	go func() { defer sh.cl.wg.Done(); g.checkpointLoop(sctx, rs.h, sh) }()
	// Opening waits for the identify slot and retries with backoff: not
	// on the member's loop, which must go on renewing leases meanwhile.
	go func() {
		defer sh.cl.wg.Done()
		if err := g.openLeased(sctx, sh, identify); err != nil && sctx.Err() == nil {
			g.log.Error("open leased shard", "shard", sh.id, "err", err)
			go g.fail(sh)
		}
	}()
	return nil
}

// openLeased opens a shard started by StartShard, and opens it again
// (discordgo resumes the session) whenever the websocket drops, until the
// shard stops.
func (g *Gateway) openLeased(ctx context.Context, sh *shard, identify bool) error {
	stopped := func() bool {
		sh.mu.Lock()
		defer sh.mu.Unlock()
		return sh.cl.stopped || ctx.Err() != nil
	}
	defer func() {
		// Stopped while opening: the close may have come before the open.
		if stopped() {
			g.closeShard(sh)
		}
	}()
	if err := g.openFirst(ctx, sh, identify); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sh.cl.reconnect:
		}
		if stopped() {
			return nil
		}
		g.log.Info("gateway shard dropped; resuming", "shard", sh.id)
		if err := g.open(ctx, sh); err != nil {
			return err
		}
	}
}

// openFirst opens the shard the first time: IDENTIFY within the
// cluster-wide limits, or RESUME of the lease's session.
func (g *Gateway) openFirst(ctx context.Context, sh *shard, identify bool) error {
	if !identify {
		return g.open(ctx, sh)
	}
	bucket, spacing, err := g.waitIdentify(ctx, sh.id)
	if err != nil {
		return err
	}
	err = g.open(ctx, sh)
	// The slot was held with a margin until the IDENTIFY was sent; from
	// now, the next one of the bucket may go after the spacing.
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if serr := g.cfg.Cluster.Ledger.IdentifySent(cctx, bucket, spacing); serr != nil {
		g.log.Warn("identify slot", "shard", sh.id, "err", serr)
	}
	cancel()
	return err
}

// maxConcurrency is the bot's max_concurrency (GET /gateway/bot), asked
// once; 1 if Discord does not say.
func (g *Gateway) identifyBudget(ctx context.Context) (conc, daily int) {
	g.budgetOnce.Do(func() {
		g.maxConc, g.dailyStarts = 1, 0
		gb, err := g.rest.GatewayBot(discordgo.WithContext(ctx))
		if err != nil {
			g.log.Warn("GET /gateway/bot; assuming max_concurrency 1", "err", err)
			return
		}
		if gb.SessionStartLimit.MaxConcurrency > 0 {
			g.maxConc = gb.SessionStartLimit.MaxConcurrency
		}
		g.dailyStarts = gb.SessionStartLimit.Total
	})
	return g.maxConc, g.dailyStarts
}

// identifyHold is how long an identify slot is held before its IDENTIFY
// is known sent (IdentifySent shortens it to the spacing from then): the
// spacing is kept between IDENTIFYs as sent, not as slots taken.
const identifyHold = 10 * time.Second

// waitIdentify takes the cluster-wide identify slot of the shard's bucket
// (shard % max_concurrency), one per IdentifyDelay, within the daily
// session-start budget.
func (g *Gateway) waitIdentify(ctx context.Context, shard int) (bucket int, spacing time.Duration, err error) {
	conc, daily := g.identifyBudget(ctx)
	bucket, spacing = shard%conc, g.cfg.IdentifyDelay
	for {
		wait, err := g.cfg.Cluster.Ledger.TakeIdentify(ctx, bucket, spacing+identifyHold, daily)
		if err != nil {
			return bucket, spacing, err
		}
		if wait <= 0 {
			return bucket, spacing, nil
		}
		select {
		case <-time.After(min(wait, spacing)):
		case <-ctx.Done():
			return bucket, spacing, ctx.Err()
		}
	}
}

// checkpointLoop saves the shard's handled sequence every
// CheckpointEvery, after the engine has handled what it was given.
func (g *Gateway) checkpointLoop(ctx context.Context, h Host, sh *shard) {
	every := g.cfg.Cluster.CheckpointEvery
	if every <= 0 {
		every = 250 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := g.checkpoint(ctx, h, sh); err != nil {
				if ctx.Err() != nil {
					return
				}
				g.log.Warn("checkpoint shard", "shard", sh.id, "err", err)
				if errors.Is(err, cluster.ErrFenced) {
					go g.fail(sh)
					return
				}
			}
		}
	}
}

// drainer is the engine's Drain: every event queued before it is handled.
type drainer interface {
	Drain(ctx context.Context) error
}

// checkpoint saves what was handled; it returns the session saved.
func (g *Gateway) checkpoint(ctx context.Context, h Host, sh *shard) (cluster.Session, error) {
	c := sh.cl
	mu := c.passedMu()
	mu.Lock()
	sid, seq := c.passedSID, c.passedSeq
	same := sid == c.savedSID && seq == c.savedSeq
	mu.Unlock()
	sh.mu.Lock()
	url := c.resumeURL
	sh.mu.Unlock()
	sess := cluster.Session{ID: sid, Seq: seq, ResumeURL: url}
	if same || sid == "" {
		return sess, nil
	}
	if d, ok := h.(drainer); ok {
		if err := d.Drain(ctx); err != nil {
			return sess, err
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := g.cfg.Cluster.Ledger.Checkpoint(cctx, c.lease, sess); err != nil {
		return sess, err
	}
	mu.Lock()
	c.savedSID, c.savedSeq = sid, seq
	mu.Unlock()
	return sess, nil
}

// StopShard stops a shard gracefully for a hand-over (cluster.Shards):
// no more events are read, the ones taken are handled, the session is
// checkpointed and returned for the next owner to resume. The websocket
// is closed with a code that keeps the session resumable.
func (g *Gateway) StopShard(ctx context.Context, shard int) (cluster.Session, error) {
	sh := g.detach(shard)
	if sh == nil {
		return cluster.Session{}, fmt.Errorf("stop shard %d: %w", shard, engine.ErrNotFound)
	}
	defer func() { sh.cl.cancel(); sh.cl.wg.Wait() }()
	g.closeShard(sh)
	flush := make(chan struct{})
	select {
	case sh.events <- item{flush: flush}:
	case <-ctx.Done():
		return cluster.Session{}, fmt.Errorf("stop shard %d: %w", shard, ctx.Err())
	}
	select {
	case <-flush:
	case <-ctx.Done():
		return cluster.Session{}, fmt.Errorf("stop shard %d: %w", shard, ctx.Err())
	}
	g.mu.RLock()
	rs := g.run
	g.mu.RUnlock()
	sess, err := g.checkpoint(ctx, rs.h, sh)
	if err != nil {
		return cluster.Session{}, fmt.Errorf("stop shard %d: %w", shard, err)
	}
	return sess, nil
}

// AbandonShard stops a shard at once, writing nothing (cluster.Shards).
func (g *Gateway) AbandonShard(shard int) {
	sh := g.detach(shard)
	if sh == nil {
		return
	}
	sh.cl.cancel()
	g.closeShard(sh)
	sh.cl.wg.Wait()
}

// detach removes a cluster shard from the gateway and marks it stopped.
func (g *Gateway) detach(id int) *shard {
	g.mu.Lock()
	var found *shard
	for i, sh := range g.shards {
		if sh.id == id && sh.cl != nil {
			found = sh
			g.shards = append(g.shards[:i:i], g.shards[i+1:]...)
			break
		}
	}
	g.mu.Unlock()
	if found != nil {
		found.mu.Lock()
		found.cl.stopped = true
		found.mu.Unlock()
	}
	return found
}

// closeShard closes the websocket keeping the session resumable (close
// 1012, service restart: Discord invalidates a session closed with 1000).
func (g *Gateway) closeShard(sh *shard) {
	_ = sh.s.CloseWithCode(websocket.CloseServiceRestart)
}

// setResume makes a discordgo session RESUME s on its next Open.
// discordgo keeps the session id, sequence and gateway URL unexported and
// has no API to resume a session another process opened; its fields are
// set by name, and a discordgo whose fields differ (checked here) makes
// the shard identify instead (TestClusterResume fails loudly then).
func setResume(sess *discordgo.Session, s cluster.Session) bool {
	v := reflect.ValueOf(sess).Elem()
	id, seq, gw := v.FieldByName("sessionID"), v.FieldByName("sequence"), v.FieldByName("gateway")
	if !id.IsValid() || id.Kind() != reflect.String || !seq.IsValid() || seq.Type() != reflect.TypeOf((*int64)(nil)) ||
		!gw.IsValid() || gw.Kind() != reflect.String {
		return false
	}
	reflect.NewAt(id.Type(), unsafe.Pointer(id.UnsafeAddr())).Elem().SetString(s.ID)
	p := reflect.NewAt(seq.Type(), unsafe.Pointer(seq.UnsafeAddr())).Elem().Interface().(*int64)
	if p == nil {
		return false
	}
	atomic.StoreInt64(p, s.Seq)
	if u := s.ResumeURL; u != "" {
		if !strings.HasSuffix(u, "/") { // as discordgo's Gateway() does
			u += "/"
		}
		reflect.NewAt(gw.Type(), unsafe.Pointer(gw.UnsafeAddr())).Elem().SetString(u + "?v=" + discordgo.APIVersion + "&encoding=json")
	}
	return true
}

// PointAt makes discordgo's REST and gateway endpoints target base (a URL
// ending in "/"): maid serve --discord-url, for a `maid fakediscord`.
// discordgo derives its endpoint variables once at init, so each is reset;
// call it before any session runs.
func PointAt(base string) {
	discordgo.EndpointDiscord = base
	api := base + "api/v" + discordgo.APIVersion + "/"
	discordgo.EndpointAPI = api
	discordgo.EndpointGuilds = api + "guilds/"
	discordgo.EndpointChannels = api + "channels/"
	discordgo.EndpointUsers = api + "users/"
	discordgo.EndpointGateway = api + "gateway"
	discordgo.EndpointGatewayBot = discordgo.EndpointGateway + "/bot"
	discordgo.EndpointWebhooks = api + "webhooks/"
	discordgo.EndpointStickers = api + "stickers/"
	discordgo.EndpointStageInstances = api + "stage-instances"
	discordgo.EndpointSKUs = api + "skus"
	discordgo.EndpointVoice = api + "/voice/"
	discordgo.EndpointVoiceRegions = discordgo.EndpointVoice + "regions"
	discordgo.EndpointNitroStickersPacks = api + "/sticker-packs"
	discordgo.EndpointGuildCreate = api + "guilds"
	discordgo.EndpointApplications = api + "applications"
	discordgo.EndpointOAuth2 = api + "oauth2/"
	discordgo.EndpointOAuth2Applications = discordgo.EndpointOAuth2 + "applications"
	discordgo.EndpointOauth2 = discordgo.EndpointOAuth2
	discordgo.EndpointOauth2Applications = discordgo.EndpointOAuth2Applications
}
