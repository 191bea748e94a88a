package store

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maidhq/maid/engine"
)

// TestKVGroupErrorsPerWrite: a group whose middle write passes its quota
// commits the others; the refused write leaves nothing behind (no key, no
// counter change), and each writer gets its own outcome.
func TestKVGroupErrorsPerWrite(t *testing.T) {
	eachBackend(t, func(t *testing.T, ctx context.Context, s *Store) {
		install(t, ctx, s, "grp")
		full := engine.Scope{PluginID: "grp", ServerID: "full"}
		must(t, s.KVSet(ctx, full, "only", json.RawMessage(`1`), engine.Quota{MaxKeys: 1}))
		mk := func(sc engine.Scope, key string, q engine.Quota) *kvWrite {
			return &kvWrite{ctx: ctx, sc: sc, keys: []string{key}, values: map[string]json.RawMessage{key: json.RawMessage(`"v"`)},
				newBytes: int64(len(key) + 3), q: q}
		}
		a := engine.Scope{PluginID: "grp", ServerID: "a"}
		group := []*kvWrite{
			mk(a, "k1", engine.Quota{}),
			mk(full, "second", engine.Quota{MaxKeys: 1}), // over quota
			mk(a, "k2", engine.Quota{}),
			mk(engine.Scope{PluginID: "not-installed", ServerID: "a"}, "k", engine.Quota{}), // no such plugin
		}
		s.commitGroup(group)
		if group[0].err != nil || group[2].err != nil {
			t.Fatalf("the good writes failed: %v, %v", group[0].err, group[2].err)
		}
		wantErr(t, group[1].err, engine.ErrQuota)
		wantErr(t, group[3].err, engine.ErrNotFound)
		for _, k := range []string{"k1", "k2"} {
			if _, ok, err := s.KVGet(ctx, a, k); err != nil || !ok {
				t.Fatalf("%s after the group: found %v, %v", k, ok, err)
			}
		}
		if _, ok, _ := s.KVGet(ctx, full, "second"); ok {
			t.Fatal("the write refused for its quota was stored")
		}
		if n, _ := s.KVCount(ctx, full, ""); n != 1 {
			t.Fatalf("the full scope holds %d keys, want 1", n)
		}
		// The refused write's counter change was rolled back too: one
		// more key still does not fit, one overwrite does.
		wantErr(t, s.KVSet(ctx, full, "third", json.RawMessage(`1`), engine.Quota{MaxKeys: 1}), engine.ErrQuota)
		must(t, s.KVSet(ctx, full, "only", json.RawMessage(`2`), engine.Quota{MaxKeys: 1}))
	})
}

// TestKVGroupConcurrent: many writers at once (so groups form), some
// refused by a shared quota. Every acknowledged write is stored, no
// refused one is, and the scope's counters match its rows.
func TestKVGroupConcurrent(t *testing.T) {
	eachBackend(t, func(t *testing.T, ctx context.Context, s *Store) {
		install(t, ctx, s, "conc")
		sc := engine.Scope{PluginID: "conc", ServerID: "1"}
		const writers, each, quota = 16, 20, 200
		var mu sync.Mutex
		acked := map[string]bool{}
		refused := map[string]bool{}
		var wg sync.WaitGroup
		for g := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					key := fmt.Sprintf("w%d/%d", g, i)
					// Each writer also keeps its own scope: groups mix scopes.
					own := engine.Scope{PluginID: "conc", ServerID: fmt.Sprint("own", g)}
					err := s.KVSet(ctx, sc, key, json.RawMessage(`true`), engine.Quota{MaxKeys: quota})
					mu.Lock()
					switch {
					case err == nil:
						acked[key] = true
					case errors.Is(err, engine.ErrQuota):
						refused[key] = true
					default:
						t.Errorf("kv set %s: %v", key, err)
					}
					mu.Unlock()
					if err := s.KVSet(ctx, own, "n", json.RawMessage(fmt.Sprint(i)), engine.Quota{}); err != nil {
						t.Errorf("kv set own: %v", err)
					}
				}
			}()
		}
		wg.Wait()
		if len(acked) != quota || len(refused) != writers*each-quota {
			t.Fatalf("%d acknowledged, %d refused; want %d and %d", len(acked), len(refused), quota, writers*each-quota)
		}
		keys, err := s.KVList(ctx, sc, "", 0)
		must(t, err)
		if len(keys) != quota {
			t.Fatalf("%d keys stored, want %d", len(keys), quota)
		}
		for _, k := range keys {
			if !acked[k] {
				t.Fatalf("key %s stored but its writer was told it failed", k)
			}
		}
		var kc, bc int64
		must(t, s.rdb.QueryRowxContext(ctx, s.q("SELECT key_count, byte_count FROM kv_usage WHERE plugin_id = ? AND server_id = ?"), sc.PluginID, sc.ServerID).Scan(&kc, &bc))
		var wantBytes int64
		for _, k := range keys {
			wantBytes += int64(len(k) + len("true"))
		}
		if kc != quota || bc != wantBytes {
			t.Fatalf("counters say %d keys, %d bytes; rows are %d keys, %d bytes", kc, bc, quota, wantBytes)
		}
		for g := range writers {
			v, ok, err := s.KVGet(ctx, engine.Scope{PluginID: "conc", ServerID: fmt.Sprint("own", g)}, "n")
			if err != nil || !ok || string(v) != fmt.Sprint(each-1) {
				t.Fatalf("writer %d's own scope: %s, %v, %v; want %d (its last write)", g, v, ok, err, each-1)
			}
		}
	})
}

// TestKVGroupCancelledWaiter: a writer whose ctx ends while it waits for a
// group leaves the queue and stores nothing; the others are unaffected.
func TestKVGroupCancelledWaiter(t *testing.T) {
	s := openTestSQLite(t)
	ctx := testCtx(t)
	install(t, ctx, s, "cw")
	sc := engine.Scope{PluginID: "cw", ServerID: "1"}
	// Hold the committer busy, as a group being committed does.
	s.kvGroup.mu.Lock()
	s.kvGroup.busy = true
	s.kvGroup.mu.Unlock()
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.KVSet(cctx, sc, "gone", json.RawMessage(`1`), engine.Quota{}) }()
	for {
		s.kvGroup.mu.Lock()
		n := len(s.kvGroup.queue)
		s.kvGroup.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v, want context.Canceled", err)
	}
	s.kvGroup.mu.Lock()
	n := len(s.kvGroup.queue)
	s.kvGroup.busy = false
	s.kvGroup.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d writes still queued after the waiter left", n)
	}
	must(t, s.KVSet(ctx, sc, "kept", json.RawMessage(`1`), engine.Quota{}))
	if _, ok, _ := s.KVGet(ctx, sc, "gone"); ok {
		t.Fatal("the cancelled write was stored")
	}
}

// TestKVGroupCrash: a process writing from many goroutines is killed
// (SIGKILL) mid-stream; every write it acknowledged before dying is in
// the database when it is opened again. The child is this test binary
// (TestKVGroupCrashChild), printing each key once KVSet returned nil.
func TestKVGroupCrash(t *testing.T) {
	if os.Getenv("MAID_KV_CRASH_CHILD") != "" {
		t.Skip("in the child")
	}
	for _, b := range []string{"sqlite", "postgres"} {
		t.Run(b, func(t *testing.T) {
			var dsn string
			if b == "sqlite" {
				dsn = "sqlite://" + filepath.Join(t.TempDir(), "crash.db")
			} else {
				dsn = freshPostgres(t)
			}
			ctx := testCtx(t)
			s, err := Open(ctx, dsn, Options{DataDir: t.TempDir()})
			must(t, err)
			install(t, ctx, s, "crash")
			s.Close()

			cmd := exec.Command(os.Args[0], "-test.run=^TestKVGroupCrashChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), "MAID_KV_CRASH_CHILD="+dsn)
			out, err := cmd.StdoutPipe()
			must(t, err)
			cmd.Stderr = os.Stderr
			must(t, cmd.Start())
			acked := map[string]bool{}
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if k, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
					acked[k] = true
				}
				if len(acked) == 300 {
					_ = cmd.Process.Kill() // mid-stream: groups are in flight
					break
				}
			}
			for sc.Scan() { // what it printed before dying
				if k, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
					acked[k] = true
				}
			}
			_ = cmd.Wait()
			if len(acked) < 300 {
				t.Fatalf("the child acknowledged %d writes before it ended, want 300", len(acked))
			}
			s, err = Open(ctx, dsn, Options{DataDir: t.TempDir()})
			must(t, err)
			defer s.Close()
			missing := 0
			for k := range acked {
				w, key, _ := strings.Cut(k, "/")
				if _, ok, err := s.KVGet(ctx, engine.Scope{PluginID: "crash", ServerID: w}, key); err != nil || !ok {
					missing++
				}
			}
			if missing > 0 {
				t.Fatalf("%d of %d acknowledged writes are missing after the crash", missing, len(acked))
			}
		})
	}
}

// TestKVGroupCrashChild is TestKVGroupCrash's writer process.
func TestKVGroupCrashChild(t *testing.T) {
	dsn := os.Getenv("MAID_KV_CRASH_CHILD")
	if dsn == "" {
		t.Skip("run by TestKVGroupCrash")
	}
	ctx := context.Background()
	s, err := Open(ctx, dsn, Options{DataDir: t.TempDir()})
	must(t, err)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			server := fmt.Sprint("w", g)
			for i := 0; ; i++ {
				key := fmt.Sprint("k", i)
				if err := s.KVSet(ctx, engine.Scope{PluginID: "crash", ServerID: server}, key, json.RawMessage(`{"v": 1}`), engine.Quota{}); err != nil {
					fmt.Fprintln(os.Stderr, "child:", err)
					return
				}
				mu.Lock()
				fmt.Printf("acked %s/%s\n", server, key)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// TestKVGroupWriterDeadlineFailsAlone: a writer whose ctx ends while its
// statement waits (here on a row lock another connection holds, as another
// node's group would) must not fail the other writes of its group. Issue 16
// attack: on PostgreSQL the cancel marked the shared connection bad and
// every write of the group, other plugins' included, failed.
func TestKVGroupWriterDeadlineFailsAlone(t *testing.T) {
	s := openTestPostgres(t)
	ctx := testCtx(t)
	for _, id := range []string{"aaa-victim", "slow", "zzz-victim"} {
		install(t, ctx, s, id)
	}
	slow := engine.Scope{PluginID: "slow", ServerID: "1"}
	must(t, s.KVSet(ctx, slow, "seed", json.RawMessage(`1`), engine.Quota{}))

	// Another connection holds slow's usage row for a moment, so slow's
	// statement is still waiting when its ctx ends.
	lockTx, err := s.wdb.BeginTxx(ctx, nil)
	must(t, err)
	_, err = lockTx.ExecContext(ctx, `SELECT 1 FROM kv_usage WHERE plugin_id = 'slow' FOR UPDATE`)
	must(t, err)
	release := time.AfterFunc(2*time.Second, func() { _ = lockTx.Rollback() })
	defer release.Stop()

	mk := func(c context.Context, sc engine.Scope, key string) *kvWrite {
		return &kvWrite{ctx: c, sc: sc, keys: []string{key}, values: map[string]json.RawMessage{key: json.RawMessage(`"v"`)}, newBytes: int64(len(key) + 3)}
	}
	sctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	v1 := engine.Scope{PluginID: "aaa-victim", ServerID: "42"}
	v2 := engine.Scope{PluginID: "zzz-victim", ServerID: "43"}
	group := []*kvWrite{mk(ctx, v1, "important"), mk(sctx, slow, "x"), mk(ctx, v2, "important")}
	s.commitGroup(group)
	if group[0].err != nil || group[2].err != nil {
		t.Fatalf("another writer's deadline failed the group: %v, %v (slow: %v)", group[0].err, group[2].err, group[1].err)
	}
	for _, sc := range []engine.Scope{v1, v2} {
		if _, ok, err := s.KVGet(ctx, sc, "important"); err != nil || !ok {
			t.Fatalf("%s: the acknowledged write is missing: %v, %v", sc.PluginID, ok, err)
		}
	}
}
