package discord_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/maidhq/maid/cluster"
	"github.com/maidhq/maid/discord"
	"github.com/maidhq/maid/discord/fakediscord"
	"github.com/maidhq/maid/engine"
)

// memLedger is an in-memory cluster ledger with the store's rules (the
// store's own tests run them on PostgreSQL): claims refused once the lease
// generation moved on, done up to the checkpoint.
type memLedger struct {
	mu     sync.Mutex
	gen    map[int]int64 // current generation by shard
	claims map[string]int64
	done   map[string]bool
	saved  map[int]cluster.Session
}

func newMemLedger() *memLedger {
	return &memLedger{gen: map[int]int64{}, claims: map[string]int64{}, done: map[string]bool{}, saved: map[int]cluster.Session{}}
}

func (m *memLedger) Claim(_ context.Context, l cluster.Lease, sid string, seq int64) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gen[l.Shard] != l.Generation {
		return false, cluster.ErrFenced
	}
	k := cluster.EventKey(l.Shard, sid, seq)
	if g, ok := m.claims[k]; ok && (g >= l.Generation || m.done[k]) {
		return false, nil
	}
	m.claims[k] = l.Generation
	return true, nil
}

func (m *memLedger) Checkpoint(_ context.Context, l cluster.Lease, s cluster.Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gen[l.Shard] != l.Generation {
		return cluster.ErrFenced
	}
	for seq := int64(1); seq <= s.Seq; seq++ {
		m.done[cluster.EventKey(l.Shard, s.ID, seq)] = true
	}
	m.saved[l.Shard] = s
	return nil
}

func (m *memLedger) TakeIdentify(context.Context, int, time.Duration, int) (time.Duration, error) {
	return 0, nil
}

func (m *memLedger) IdentifySent(context.Context, int, time.Duration) error { return nil }

// idHost records the message ids it is given, and implements Drain.
type idHost struct {
	nopHost
	mu  sync.Mutex
	ids []string
}

func (r *idHost) Dispatch(_ context.Context, ev engine.Event) error {
	if ev.Type != "message_create" {
		return nil
	}
	var m struct{ ID string }
	_ = json.Unmarshal(ev.Data, &m)
	r.mu.Lock()
	r.ids = append(r.ids, m.ID)
	r.mu.Unlock()
	return nil
}

func (r *idHost) Drain(context.Context) error { return nil }

func (r *idHost) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...)
}

func startClusterGateway(t *testing.T, fake *fakediscord.Server, led discord.Ledger, node string, h discord.Host) *discord.Gateway {
	t.Helper()
	gw, err := discord.NewGateway(discord.GatewayConfig{Token: fake.Token, ShardCount: 1, IdentifyDelay: time.Millisecond,
		Cluster: &discord.ClusterConfig{Ledger: led, Node: node, CheckpointEvery: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	background(t, "gateway run", func(ctx context.Context) error { return gw.Run(ctx, h) })
	return gw
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func startShard(t *testing.T, gw *discord.Gateway, l cluster.Lease) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for { // Run may not have started yet
		err := gw.StartShard(context.Background(), l)
		if err == nil {
			return
		}
		if !errors.Is(err, discord.ErrNotReady) || time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestClusterResume: a shard handed over from one gateway to another
// RESUMEs the checkpointed session (no second IDENTIFY), the messages
// sent while nobody held it are replayed to the new holder, each
// delivered once in all; the old holder, fenced, delivers nothing more.
func TestClusterResume(t *testing.T) {
	fake := newFake(t)
	led := newMemLedger()
	a, b := &idHost{}, &idHost{}
	gwA := startClusterGateway(t, fake, led, "a", a)
	gwB := startClusterGateway(t, fake, led, "b", b)

	led.gen[0] = 1
	startShard(t, gwA, cluster.Lease{Shard: 0, ShardCount: 1, Node: "a", Generation: 1})
	waitUntil(t, "shard connected", func() bool { return fake.Connected(0) })
	var sent []string
	for range 5 {
		id, _ := fake.UserMessage(chan1, user1, "before")
		sent = append(sent, id)
	}
	waitUntil(t, "node a handled 5", func() bool { return len(a.got()) == 5 })
	sess, err := gwA.StopShard(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if sess.ID == "" || sess.Seq == 0 {
		t.Fatalf("hand-over session: %+v", sess)
	}
	// While nobody holds the shard, Discord queues what happens.
	for range 5 {
		id, _ := fake.UserMessage(chan1, user1, "between")
		sent = append(sent, id)
	}
	led.mu.Lock()
	led.gen[0] = 2
	led.mu.Unlock()
	startShard(t, gwB, cluster.Lease{Shard: 0, ShardCount: 1, Node: "b", Generation: 2, Session: sess})
	waitUntil(t, "node b handled the 5 sent between", func() bool { return len(b.got()) == 5 })
	for range 3 {
		id, _ := fake.UserMessage(chan1, user1, "after")
		sent = append(sent, id)
	}
	waitUntil(t, "node b handled 8", func() bool { return len(b.got()) == 8 })
	_, _, identifies, resumes := fake.Counts()
	if identifies != 1 || resumes != 1 {
		t.Errorf("identifies %d, resumes %d; want 1 and 1 (the hand-over resumes)", identifies, resumes)
	}
	all := append(a.got(), b.got()...)
	if len(all) != len(sent) {
		t.Fatalf("delivered %d messages, sent %d: %v vs %v", len(all), len(sent), all, sent)
	}
	for i := range sent {
		if all[i] != sent[i] {
			t.Fatalf("delivery %d: %s, want %s (in order, each once)", i, all[i], sent[i])
		}
	}
	if s := fake.Stats().Displaced; s != 0 {
		t.Errorf("%d resumes found the old connection still open", s)
	}
}

// TestClusterFencedShardStops: a claim refused because the lease moved on
// stops the shard at once and tells the member; the event is not
// delivered.
func TestClusterFencedShardStops(t *testing.T) {
	fake := newFake(t)
	led := newMemLedger()
	h := &idHost{}
	failed := make(chan int, 1)
	gw, err := discord.NewGateway(discord.GatewayConfig{Token: fake.Token, ShardCount: 1, IdentifyDelay: time.Millisecond,
		Cluster: &discord.ClusterConfig{Ledger: led, Node: "a", Failed: func(s int) { failed <- s }}})
	if err != nil {
		t.Fatal(err)
	}
	background(t, "gateway run", func(ctx context.Context) error { return gw.Run(ctx, h) })
	led.gen[0] = 1
	startShard(t, gw, cluster.Lease{Shard: 0, ShardCount: 1, Node: "a", Generation: 1})
	waitUntil(t, "shard connected", func() bool { return fake.Connected(0) })
	led.mu.Lock()
	led.gen[0] = 2 // another node took it
	led.mu.Unlock()
	fake.UserMessage(chan1, user1, "after the take-over")
	select {
	case s := <-failed:
		if s != 0 {
			t.Fatalf("failed shard %d", s)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the fenced shard was not reported")
	}
	waitUntil(t, "shard closed", func() bool { return !fake.Connected(0) })
	if got := h.got(); len(got) != 0 {
		t.Fatalf("a fenced shard delivered %v", got)
	}
}

// TestClusterShardReconnects: a leased shard whose websocket drops opens
// again by itself and RESUMEs (discordgo's own reconnect loop is off for
// leased shards, so a stopped shard is never reopened behind its back).
func TestClusterShardReconnects(t *testing.T) {
	fake := newFake(t)
	led := newMemLedger()
	h := &idHost{}
	gw := startClusterGateway(t, fake, led, "a", h)
	led.gen[0] = 1
	startShard(t, gw, cluster.Lease{Shard: 0, ShardCount: 1, Node: "a", Generation: 1})
	waitUntil(t, "shard connected", func() bool { return fake.Connected(0) })
	fake.Drop(0)
	fake.UserMessage(chan1, user1, "while dropped")
	waitUntil(t, "message delivered after the drop", func() bool { return len(h.got()) == 1 })
	if _, _, identifies, resumes := fake.Counts(); identifies != 1 || resumes != 1 {
		t.Fatalf("identifies %d, resumes %d; want 1 and 1", identifies, resumes)
	}
	gw.AbandonShard(0)
	waitUntil(t, "shard closed", func() bool { return !fake.Connected(0) })
	fake.UserMessage(chan1, user1, "after the shard stopped")
	time.Sleep(300 * time.Millisecond) // a reopen would have to happen in this window; not a synchronisation
	if fake.Connected(0) || len(h.got()) != 1 {
		t.Fatalf("a stopped shard came back: connected %v, delivered %v", fake.Connected(0), h.got())
	}
}
