package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Shards runs gateway shards for a Member (discord.Gateway implements it).
type Shards interface {
	// StartShard opens a shard under l, resuming l.Session when it has
	// one, identifying otherwise. Every write it makes for the shard
	// carries l (Claim, Checkpoint).
	StartShard(ctx context.Context, l Lease) error
	// StopShard stops a shard gracefully for a hand-over: it reads no
	// more events, waits until the events it took are handled, and
	// returns the session the next owner resumes.
	StopShard(ctx context.Context, shard int) (Session, error)
	// AbandonShard stops a shard at once, writing nothing: its lease is
	// lost or about to expire.
	AbandonShard(shard int)
}

// Config configures a Member.
type Config struct {
	Store  Store
	Shards Shards
	// NodeID names this node (unique in the cluster); Addr is shown in
	// status (the dashboard address).
	NodeID, Addr string
	// ShardCount is the bot's total shard count.
	ShardCount int
	// LeaseTTL is how long a lease lives without renewal; leases are
	// renewed every LeaseTTL/4 and a node that could not renew stops the
	// shard at LeaseTTL*3/4 after its last renewal was sent, before the
	// database can hand it to another node. 0 means 10 s.
	LeaseTTL time.Duration
	// Poll is how often free shards and plugin changes are looked for
	// without a notification; 0 means 1 s.
	Poll   time.Duration
	Logger *slog.Logger
	// OnNotify is called for each notification on a topic other than the
	// cluster's (the plugins' changes), from the listening goroutine.
	OnNotify func(topic string)
}

// The ledger (events claimed, plugin writes per event) is kept for
// ledgerAge: far longer than any session's replay after a hand-over.
const (
	ledgerAge  = time.Hour
	pruneEvery = 10 * time.Minute
)

// Member is this node's part of the cluster: it heartbeats, holds and
// renews its leases, takes free shards up to its share and gives up the
// ones over it, and drains on request.
type Member struct {
	cfg  Config
	log  *slog.Logger
	wake chan struct{}

	draining atomic.Bool // asked to drain (seen in a heartbeat)

	mu     sync.Mutex
	owned  map[int]*held
	failed []Lease // shards that stopped by themselves, to release
}

type held struct {
	lease      Lease
	validUntil time.Time // local clock: stop the shard past this
}

// New checks cfg.
func New(cfg Config) (*Member, error) {
	switch {
	case cfg.Store == nil || cfg.Shards == nil:
		return nil, errors.New("cluster: store and shards are required")
	case cfg.NodeID == "":
		return nil, errors.New("cluster: node id is required")
	case cfg.ShardCount < 1:
		return nil, errors.New("cluster: shard count must be at least 1")
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 10 * time.Second
	}
	if cfg.LeaseTTL < 3*time.Second {
		// The store ends a silent node's transactions after 2s, releasing
		// the lease rows they lock: a lease must outlive that.
		return nil, fmt.Errorf("cluster: lease TTL %v is too short (at least 3s)", cfg.LeaseTTL)
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Member{cfg: cfg, log: cfg.Logger.With("component", "cluster", "node", cfg.NodeID),
		wake: make(chan struct{}, 1), owned: map[int]*held{}}, nil
}

// Owned returns the shards this node holds, sorted.
func (m *Member) Owned() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]int, 0, len(m.owned))
	for s := range m.owned {
		out = append(out, s)
	}
	sort.Ints(out)
	return out
}

// ShardFailed is told by the shards of one that stopped by itself (a
// write was fenced or failed): the lease is released, keeping the last
// checkpoint, for another node (or this one) to take.
func (m *Member) ShardFailed(shard int) {
	m.mu.Lock()
	if h := m.owned[shard]; h != nil {
		delete(m.owned, shard)
		m.failed = append(m.failed, h.lease)
	}
	m.mu.Unlock()
	m.Wake()
}

func (m *Member) notified(topic string) {
	if topic != "" && topic != "maid_cluster" && m.cfg.OnNotify != nil {
		m.cfg.OnNotify(topic)
		return
	}
	if topic == "" && m.cfg.OnNotify != nil {
		m.cfg.OnNotify("") // reconnected: anything may have been missed
	}
	m.Wake()
}

// releaseFailed releases the leases of shards that failed.
func (m *Member) releaseFailed(ctx context.Context) {
	m.mu.Lock()
	failed := m.failed
	m.failed = nil
	m.mu.Unlock()
	for _, l := range failed {
		cctx, cancel := m.dbCtx(ctx)
		err := m.cfg.Store.Release(cctx, l, Session{})
		cancel()
		if err != nil && !errors.Is(err, ErrFenced) {
			m.log.Warn("release failed shard", "shard", l.Shard, "err", err)
		}
	}
}

// Wake makes the loop look at the leases now (a notification came).
func (m *Member) Wake() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *Member) renewEvery() time.Duration { return m.cfg.LeaseTTL / 4 }

// dbCtx bounds one database call: a call that hangs (PostgreSQL cut off)
// must not keep the loop from stopping shards in time.
func (m *Member) dbCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, m.renewEvery())
}

// Run takes part in the cluster until ctx ends or the node is asked to
// drain; either way it hands its shards over (stop, checkpoint, release)
// before returning. It returns nil after a drain.
func (m *Member) Run(ctx context.Context) error {
	st := m.cfg.Store
	jctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err := st.EnsureShards(jctx, m.cfg.ShardCount)
	if err == nil {
		err = st.JoinNode(jctx, m.cfg.NodeID, m.cfg.Addr)
	}
	cancel()
	if err != nil {
		return fmt.Errorf("cluster: join: %w", err)
	}
	m.log.Info("joined the cluster", "shards", m.cfg.ShardCount, "lease_ttl", m.cfg.LeaseTTL)

	var wg sync.WaitGroup
	// Not ended by ctx: leases are renewed while leave hands them over.
	lctx, stopListen := context.WithCancel(context.WithoutCancel(ctx))
	wg.Add(2)
	go func() {
		defer wg.Done()
		for lctx.Err() == nil {
			if err := st.Listen(lctx, m.notified); err != nil && lctx.Err() == nil {
				m.log.Debug("cluster notifications", "err", err) // polling covers it
				select {
				case <-time.After(m.cfg.Poll):
				case <-lctx.Done():
				}
			}
		}
	}()
	// The watchdog stops a shard whose lease could not be renewed in
	// time even while a database call hangs; renewals run apart from
	// balancing, which can take a while (a hand-over).
	go func() { defer wg.Done(); m.watchdog(lctx) }()
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(m.renewEvery())
		defer t.Stop()
		for {
			if m.renew(lctx) {
				m.draining.Store(true)
				m.Wake()
			}
			select {
			case <-lctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	defer func() { stopListen(); wg.Wait() }()

	// Let the other nodes starting now register before taking a share.
	select {
	case <-time.After(m.renewEvery()):
	case <-ctx.Done():
		return m.leave(context.WithoutCancel(ctx))
	}
	poll := time.NewTicker(m.cfg.Poll)
	defer poll.Stop()
	prune := time.NewTicker(pruneEvery)
	defer prune.Stop()
	for {
		m.releaseFailed(ctx)
		if m.draining.Load() {
			m.log.Info("asked to drain: handing shards over")
			return m.leave(context.WithoutCancel(ctx))
		}
		m.balance(ctx)
		select {
		case <-ctx.Done():
			return m.leave(context.WithoutCancel(ctx))
		case <-poll.C:
		case <-m.wake:
		case <-prune.C:
			// Every node prunes; the deletes are idempotent and cheap.
			pctx, cancel := context.WithTimeout(ctx, m.renewEvery()*2)
			if err := m.cfg.Store.Prune(pctx, ledgerAge); err != nil {
				m.log.Warn("prune the cluster ledger", "err", err)
			}
			cancel()
		}
	}
}

// renew heartbeats and renews the leases held; leases not renewed are
// abandoned. It reports whether the node was asked to drain.
func (m *Member) renew(ctx context.Context) (draining bool) {
	cctx, cancel := m.dbCtx(ctx)
	defer cancel()
	draining, err := m.cfg.Store.Heartbeat(cctx, m.cfg.NodeID)
	if err != nil {
		m.log.Warn("cluster heartbeat", "err", err)
	}
	m.mu.Lock()
	gens := make(map[int]int64, len(m.owned))
	for s, h := range m.owned {
		gens[s] = h.lease.Generation
	}
	m.mu.Unlock()
	if len(gens) == 0 {
		return draining
	}
	sent := time.Now()
	renewed, err := m.cfg.Store.Renew(cctx, m.cfg.NodeID, gens, m.cfg.LeaseTTL)
	if err != nil {
		m.log.Warn("renew shard leases", "err", err)
		return draining // the watchdog stops them if this goes on
	}
	var lost []int
	m.mu.Lock()
	for s, gen := range gens {
		h := m.owned[s]
		if h == nil || h.lease.Generation != gen {
			continue
		}
		if renewed[s] {
			h.validUntil = sent.Add(m.cfg.LeaseTTL * 3 / 4)
		} else {
			delete(m.owned, s)
			lost = append(lost, s)
		}
	}
	m.mu.Unlock()
	m.abandon("shard lease lost; stopping the shard", lost)
	return draining
}

// abandon logs why for each shard, then stops them at once, all together:
// closing a gateway session takes a while, and every one must be closed
// before its lease expires.
func (m *Member) abandon(why string, shards []int) {
	for _, s := range shards {
		m.log.Warn(why, "shard", s)
	}
	var wg sync.WaitGroup
	for _, s := range shards {
		wg.Add(1)
		go func() { defer wg.Done(); m.cfg.Shards.AbandonShard(s) }()
	}
	wg.Wait()
}

// watchdog abandons shards whose local validity ran out.
func (m *Member) watchdog(ctx context.Context) {
	t := time.NewTicker(max(m.cfg.LeaseTTL/40, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			var late []int
			m.mu.Lock()
			for s, h := range m.owned {
				if now.After(h.validUntil) {
					delete(m.owned, s)
					late = append(late, s)
				}
			}
			m.mu.Unlock()
			m.abandon("shard lease not renewed in time; stopping the shard before it can expire", late)
		}
	}
}

// balance takes free shards up to this node's share and releases the
// ones above it. The share is ceil(shards / live nodes not draining).
func (m *Member) balance(ctx context.Context) {
	st := m.cfg.Store
	cctx, cancel := m.dbCtx(ctx)
	nodes, err := st.Nodes(cctx, m.cfg.LeaseTTL)
	var leases []Lease
	if err == nil {
		leases, err = st.Leases(cctx)
	}
	cancel()
	if err != nil {
		m.log.Warn("cluster balance", "err", err)
		return
	}
	live := 0
	for _, n := range nodes {
		if n.Live && !n.Draining {
			live++
		}
	}
	if live == 0 {
		live = 1
	}
	share := (m.cfg.ShardCount + live - 1) / live
	mine := m.Owned()
	if len(mine) > share {
		// Give up the highest shards above the share, one hand-over at a
		// time, so the node taking them is not flooded.
		s := mine[len(mine)-1]
		m.handOver(ctx, s)
		_ = st.Notify(ctx)
		return
	}
	for _, l := range leases {
		if len(m.Owned()) >= share || ctx.Err() != nil {
			return
		}
		if l.Node != "" && !l.Expired {
			continue
		}
		m.take(ctx, l.Shard)
	}
}

// take acquires a shard and starts it.
func (m *Member) take(ctx context.Context, shard int) {
	cctx, cancel := m.dbCtx(ctx)
	sent := time.Now()
	l, ok, err := m.cfg.Store.Acquire(cctx, shard, m.cfg.NodeID, m.cfg.LeaseTTL)
	cancel()
	if err != nil {
		m.log.Warn("acquire shard lease", "shard", shard, "err", err)
		return
	}
	if !ok {
		return
	}
	m.mu.Lock()
	m.owned[shard] = &held{lease: l, validUntil: sent.Add(m.cfg.LeaseTTL * 3 / 4)}
	m.mu.Unlock()
	how := "identify"
	if l.Session.ID != "" {
		how = "resume"
	}
	m.log.Info("shard taken", "shard", shard, "generation", l.Generation, "start", how, "seq", l.Session.Seq)
	if err := m.cfg.Shards.StartShard(ctx, l); err != nil {
		m.log.Warn("start shard", "shard", shard, "err", err)
		m.mu.Lock()
		if h := m.owned[shard]; h != nil && h.lease.Generation == l.Generation {
			delete(m.owned, shard)
		}
		m.mu.Unlock()
		m.cfg.Shards.AbandonShard(shard)
		rctx, cancel := m.dbCtx(context.WithoutCancel(ctx))
		_ = m.cfg.Store.Release(rctx, l, l.Session)
		cancel()
	}
}

// handOver stops a shard gracefully and releases its lease with the
// session the next owner resumes.
func (m *Member) handOver(ctx context.Context, shard int) {
	m.mu.Lock()
	h := m.owned[shard]
	m.mu.Unlock()
	if h == nil {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, m.cfg.LeaseTTL/2)
	sess, err := m.cfg.Shards.StopShard(sctx, shard)
	cancel()
	m.mu.Lock()
	if cur := m.owned[shard]; cur == h {
		delete(m.owned, shard)
	}
	m.mu.Unlock()
	if err != nil {
		// The shard is stopped; without a checkpoint the next owner
		// resumes from the last one and the ledger drops what was done.
		m.log.Warn("stop shard for hand-over", "shard", shard, "err", err)
		m.cfg.Shards.AbandonShard(shard)
		sess = h.lease.Session
		sess.ID = "" // unknown: let Release keep the saved session
	}
	rctx, cancel := m.dbCtx(ctx)
	defer cancel()
	if err := m.cfg.Store.Release(rctx, h.lease, sess); err != nil {
		m.log.Warn("release shard lease", "shard", shard, "err", err)
		return
	}
	m.log.Info("shard handed over", "shard", shard, "generation", h.lease.Generation, "seq", sess.Seq)
}

// leave hands every shard over and marks the node gone. It marks itself
// draining first, so the other nodes' shares count it out and they take
// the shards as they are released.
func (m *Member) leave(ctx context.Context) error {
	dctx, cancel := m.dbCtx(ctx)
	if err := m.cfg.Store.SetDraining(dctx, m.cfg.NodeID); err != nil {
		m.log.Warn("mark the node draining", "err", err)
	}
	cancel()
	var wg sync.WaitGroup
	for _, s := range m.Owned() {
		wg.Add(1)
		go func() { defer wg.Done(); m.handOver(ctx, s) }()
	}
	wg.Wait()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = m.cfg.Store.Notify(cctx)
	if err := m.cfg.Store.LeaveNode(cctx, m.cfg.NodeID); err != nil {
		m.log.Warn("leave the cluster", "err", err)
	}
	m.log.Info("left the cluster")
	return nil
}
