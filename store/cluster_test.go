package store

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/maidhq/maid/cluster"
	"github.com/maidhq/maid/engine"
)

// expireLease makes a lease expire now (instead of waiting out its TTL).
func expireLease(t *testing.T, s *Store, shard int) {
	t.Helper()
	if _, err := s.wdb.Exec(`UPDATE cluster_leases SET expires_at = now() - interval '1 second' WHERE shard = $1`, shard); err != nil {
		t.Fatal(err)
	}
}

func TestClusterSQLiteRefused(t *testing.T) {
	s := openTestSQLite(t)
	if err := s.EnsureShards(testCtx(t), 2); !errors.Is(err, cluster.ErrUnsupported) {
		t.Fatalf("EnsureShards on SQLite: %v, want ErrUnsupported", err)
	}
}

// TestClusterFence: once another node holds the shard, every write of the
// old holder (claim, checkpoint, release, renew, a plugin's KV write for
// one of its events) is refused and changes nothing.
func TestClusterFence(t *testing.T) {
	s := openTestPostgres(t)
	ctx := testCtx(t)
	if err := s.EnsureShards(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureShards(ctx, 3); err == nil {
		t.Fatal("a second shard count was accepted")
	}
	a, ok, err := s.Acquire(ctx, 0, "a", time.Minute)
	if err != nil || !ok || a.Generation != 1 {
		t.Fatalf("acquire: %+v %v %v", a, ok, err)
	}
	if _, ok, _ := s.Acquire(ctx, 0, "b", time.Minute); ok {
		t.Fatal("a held lease was acquired by another node")
	}
	if d, err := s.Claim(ctx, a, "sess", 1); err != nil || !d {
		t.Fatalf("claim: %v %v", d, err)
	}
	if d, err := s.Claim(ctx, a, "sess", 1); err != nil || d {
		t.Fatalf("second claim of the same event: deliver=%v err=%v", d, err)
	}
	installCount(t, s)
	fa := engine.Fence{Shard: 0, Node: "a", Generation: a.Generation, Event: "0/sess/1", Plugin: "count", Ordinal: 1}
	sc := engine.Scope{PluginID: "count", ServerID: "1"}
	if err := s.KVSet(engine.WithFence(ctx, fa), sc, "k", json.RawMessage(`1`), engine.Quota{}); err != nil {
		t.Fatal(err)
	}

	expireLease(t, s, 0)
	b, ok, err := s.Acquire(ctx, 0, "b", time.Minute)
	if err != nil || !ok || b.Generation != 2 || b.Handovers != 1 {
		t.Fatalf("take over: %+v %v %v", b, ok, err)
	}
	for name, err := range map[string]error{
		"claim":      func() error { _, err := s.Claim(ctx, a, "sess", 2); return err }(),
		"checkpoint": s.Checkpoint(ctx, a, cluster.Session{ID: "sess", Seq: 9}),
		"release":    s.Release(ctx, a, cluster.Session{ID: "sess", Seq: 9}),
		"kv set":     s.KVSet(engine.WithFence(ctx, fa), sc, "k2", json.RawMessage(`1`), engine.Quota{}),
		"kv delete":  func() error { _, err := s.KVDelete(engine.WithFence(ctx, fa), sc, "k"); return err }(),
	} {
		if !errors.Is(err, cluster.ErrFenced) {
			t.Errorf("%s by the old holder: %v, want ErrFenced", name, err)
		}
	}
	if got, _ := s.Renew(ctx, "a", map[int]int64{0: a.Generation}, time.Minute); got[0] {
		t.Error("the old holder renewed a lease it lost")
	}
	if _, found, _ := s.KVGet(ctx, sc, "k2"); found {
		t.Error("a fenced KV write was applied")
	}
	ls, err := s.Leases(ctx)
	if err != nil || ls[0].Node != "b" || ls[0].Session.Seq != 0 {
		t.Fatalf("lease after fenced writes: %+v %v", ls, err)
	}
	// The new owner redelivers event 1 (claimed by generation 1, never
	// done): its write already committed is recognised and skipped.
	if d, err := s.Claim(ctx, b, "sess", 1); err != nil || !d {
		t.Fatalf("new owner's claim of an unfinished event: %v %v", d, err)
	}
	fb := fa
	fb.Node, fb.Generation = "b", b.Generation
	if err := s.KVSet(engine.WithFence(ctx, fb), sc, "k", json.RawMessage(`2`), engine.Quota{}); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := s.KVGet(ctx, sc, "k"); string(v) != "1" {
		t.Errorf("redelivered event's write applied again: k=%s", v)
	}
	if err := s.Checkpoint(ctx, b, cluster.Session{ID: "sess", Seq: 1}); err != nil {
		t.Fatal(err)
	}
	if d, err := s.Claim(ctx, b, "sess", 1); err != nil || d {
		t.Fatalf("claim of a done event: deliver=%v err=%v", d, err)
	}
	if err := s.Release(ctx, b, cluster.Session{ID: "sess", Seq: 1, ResumeURL: "ws://x"}); err != nil {
		t.Fatal(err)
	}
	c, ok, err := s.Acquire(ctx, 0, "c", time.Minute)
	if err != nil || !ok || c.Generation != 3 || c.Session.ID != "sess" || c.Session.Seq != 1 || c.Session.ResumeURL != "ws://x" {
		t.Fatalf("acquire after release: %+v %v %v", c, ok, err)
	}
	// A later owner gets the done event replayed: it is not delivered.
	if d, err := s.Claim(ctx, c, "sess", 1); err != nil || d {
		t.Fatalf("claim of an event done under an older generation: deliver=%v err=%v", d, err)
	}
}

// TestClusterFenceRace: claims of the old holder racing a take-over never
// commit after it: every event claimed under generation 1 was claimed
// before generation 2 existed, so the new owner sees all of them.
func TestClusterFenceRace(t *testing.T) {
	s := openTestPostgres(t)
	ctx := testCtx(t)
	if err := s.EnsureShards(ctx, 1); err != nil {
		t.Fatal(err)
	}
	a, _, err := s.Acquire(ctx, 0, "a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	started := make(chan struct{})
	var afterFence []int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for seq := int64(1); ; seq++ {
			select {
			case <-stop:
				return
			default:
			}
			if seq == 20 {
				close(started) // claims are running: take over now
			}
			if _, err := s.Claim(ctx, a, "s", seq); errors.Is(err, cluster.ErrFenced) {
				afterFence = append(afterFence, seq)
				if len(afterFence) > 20 {
					return
				}
			}
		}
	}()
	<-started
	expireLease(t, s, 0)
	b, ok, err := s.Acquire(ctx, 0, "b", time.Minute)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	close(stop)
	wg.Wait()
	var late int
	if err := s.rdb.Get(&late, `SELECT count(*) FROM cluster_events e JOIN cluster_leases l ON l.shard = e.shard
		WHERE e.generation = $1 AND e.at >= l.acquired_at`, a.Generation); err != nil {
		t.Fatal(err)
	}
	if late != 0 {
		t.Fatalf("%d claims of generation %d committed after generation %d took over", late, a.Generation, b.Generation)
	}
}

func TestClusterIdentifyBudget(t *testing.T) {
	s := openTestPostgres(t)
	ctx := testCtx(t)
	if w, err := s.TakeIdentify(ctx, 0, time.Hour, 2); err != nil || w != 0 {
		t.Fatalf("first identify: %v %v", w, err)
	}
	if w, err := s.TakeIdentify(ctx, 0, time.Hour, 2); err != nil || w < 59*time.Minute {
		t.Fatalf("second identify in the bucket: wait %v %v, want about an hour", w, err)
	}
	if w, err := s.TakeIdentify(ctx, 1, time.Hour, 2); err != nil || w != 0 {
		t.Fatalf("other bucket: %v %v", w, err)
	}
	if _, err := s.TakeIdentify(ctx, 2, time.Hour, 2); !errors.Is(err, cluster.ErrBudget) {
		t.Fatalf("third session start with a budget of 2: %v, want ErrBudget", err)
	}
}

func TestClusterNodesAndPluginChanges(t *testing.T) {
	s := openTestPostgres(t)
	ctx := testCtx(t)
	if err := s.JoinNode(ctx, "n1", "127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDraining(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if d, err := s.Heartbeat(ctx, "n1"); err != nil || !d {
		t.Fatalf("heartbeat of a draining node: %v %v", d, err)
	}
	if err := s.SetDraining(ctx, "nope"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("drain of an unknown node: %v", err)
	}
	ns, err := s.Nodes(ctx, time.Minute)
	if err != nil || len(ns) != 1 || !ns[0].Live || !ns[0].Draining {
		t.Fatalf("nodes: %+v %v", ns, err)
	}
	head, err := s.PluginChangesHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	installCount(t, s)
	if err := s.DeletePlugin(ctx, "count"); err != nil {
		t.Fatal(err)
	}
	cs, latest, err := s.PluginChanges(ctx, head)
	if err != nil || len(cs) != 1 || !cs[0].Removed || cs[0].PluginID != "count" || latest <= head {
		t.Fatalf("plugin changes: %+v %d %v", cs, latest, err)
	}
}

func installCount(t *testing.T, s *Store) {
	t.Helper()
	now := time.Now()
	if err := s.PutPlugin(testCtx(t), engine.PluginRecord{ID: "count", Version: "1.0.0", Archive: []byte("zip"), InstalledAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
}
