package cluster_test

// The cluster scenarios of docs/operations.md ("Running a cluster"): real
// maid processes (built here) on one real PostgreSQL against a fake
// Discord, 8 shards, a plugin counting each message it handles in KV.
// Every message the fake dispatched must be counted exactly once after
// a node is killed with SIGKILL, a node is cut off from PostgreSQL (a TCP
// proxy that is stopped), and a rolling restart of every node.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"github.com/maidhq/maid/cluster"
	"github.com/maidhq/maid/dashboard"
	"github.com/maidhq/maid/discord/fakediscord"
	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/internal/pgtest"
	"github.com/maidhq/maid/internal/syncbuf"
	"github.com/maidhq/maid/plugin"
	"github.com/maidhq/maid/store"
)

const (
	shards   = 8
	guilds   = 16
	leaseTTL = 3 * time.Second
)

// harness is one cluster under test.
type harness struct {
	t     *testing.T
	bin   string
	dsn   string
	fake  *fakediscord.Server
	st    *store.Store
	dir   string
	mu    sync.Mutex
	nodes map[string]*node
	seq   int
}

type node struct {
	id    string
	cmd   *exec.Cmd
	done  chan struct{}
	proxy *proxy // nil: straight to PostgreSQL
	err   error
}

var logs sync.Map // node id → *syncbuf.Buffer

func buildMaid(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "maid")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/maidhq/maid/cmd/maid").CombinedOutput()
	if err != nil {
		t.Fatalf("build maid: %v\n%s", err, out)
	}
	return bin
}

func newHarness(t *testing.T) *harness {
	dsn := pgtest.Fresh(t, "maid_cluster_")
	bin := buildMaid(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// The count plugin, enabled on every guild.
	var buf bytes.Buffer
	if err := plugin.Pack("testdata/count", &buf); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := st.PutPlugin(ctx, engine.PluginRecord{ID: "count", Version: "1.0.0", Archive: buf.Bytes(), InstalledAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	gs := fakediscord.StreamGuilds(guilds, shards)
	for _, g := range gs {
		if err := st.SetEnabled(ctx, g.ID, "count", true); err != nil {
			t.Fatal(err)
		}
	}
	fake, err := fakediscord.Listen("127.0.0.1:0", gs...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	fake.SetHeartbeat(2 * time.Second)
	// Identify limits the cluster must keep: one per 300ms (max_concurrency 1).
	fake.SetIdentifyLimits(300*time.Millisecond, 1, 1000)
	h := &harness{t: t, bin: bin, dsn: dsn, fake: fake, st: st, dir: t.TempDir(), nodes: map[string]*node{}}
	t.Cleanup(h.stopAll)
	return h
}

// start runs a new maid node; viaProxy puts a TCP proxy between it and
// PostgreSQL.
func (h *harness) start(viaProxy bool) *node {
	h.t.Helper()
	h.mu.Lock()
	h.seq++
	id := fmt.Sprintf("node%d", h.seq)
	h.mu.Unlock()
	n := &node{id: id, done: make(chan struct{})}
	dsn := h.dsn
	if viaProxy {
		u, _ := url.Parse(h.dsn)
		n.proxy = newProxy(h.t, u.Host)
		u.Host = n.proxy.addr()
		dsn = u.String()
	}
	buf := &syncbuf.Buffer{}
	logs.Store(id, buf)
	n.cmd = exec.Command(h.bin, "serve", "--cluster", "--db", dsn, "--discord-url", h.fake.URL,
		"--shard-count", fmt.Sprint(shards), "--node-id", id, "--lease-ttl", leaseTTL.String(),
		"--identify-interval", "300ms", "--backend", "process", "--pool", "0", "--addr", "127.0.0.1:0",
		"--data-dir", filepath.Join(h.dir, id), "--examples", "")
	n.cmd.Stdout = io.Discard
	n.cmd.Stderr = buf
	n.cmd.Env = os.Environ()
	if err := n.cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	go func() { n.err = n.cmd.Wait(); close(n.done) }()
	h.mu.Lock()
	h.nodes[id] = n
	h.mu.Unlock()
	return n
}

// replace starts a node in place of one a subtest took down, back on the
// parent test t, and waits until it holds its share beside the others.
func (h *harness) replace(t *testing.T, others ...*node) *node {
	h.t = t
	n := h.start(false)
	h.waitFor("replacement node takes its share", 2*time.Minute, func() (bool, string) { return h.settled(append(others, n)...) })
	return n
}

func (h *harness) stopAll() {
	h.mu.Lock()
	nodes := h.nodes
	h.mu.Unlock()
	for _, n := range nodes {
		select {
		case <-n.done:
		default:
			_ = n.cmd.Process.Kill()
			<-n.done
		}
		if n.proxy != nil {
			n.proxy.close()
		}
		if h.t.Failed() {
			if b, ok := logs.Load(n.id); ok {
				h.t.Logf("---- %s log (tail) ----\n%s", n.id, tail(b.(*syncbuf.Buffer).String(), 4000))
			}
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// kill9 kills a node at once (no hand-over).
func (h *harness) kill9(n *node) {
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.done
}

// term asks a node to drain (SIGTERM) and waits for it to exit.
func (h *harness) term(n *node) {
	h.t.Helper()
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
		if n.err != nil {
			h.t.Errorf("%s exited after SIGTERM: %v", n.id, n.err)
		}
	case <-time.After(2 * time.Minute):
		h.t.Fatalf("%s did not exit within 2 minutes of SIGTERM", n.id)
	}
}

// waitFor polls cond until it holds or within passes.
func (h *harness) waitFor(what string, within time.Duration, cond func() (bool, string)) {
	h.t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for {
		ok, why := cond()
		if ok {
			return
		}
		last = why
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: not within %v: %s", what, within, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (h *harness) leases() []cluster.Lease {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ls, err := h.st.Leases(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	return ls
}

// settled: every shard is held (unexpired) by one of the live nodes and
// connected at the fake; the live nodes hold a fair share each.
func (h *harness) settled(live ...*node) (bool, string) {
	want := map[string]bool{}
	for _, n := range live {
		want[n.id] = true
	}
	per := map[string]int{}
	for _, l := range h.leases() {
		if !want[l.Node] || l.Expired {
			return false, fmt.Sprintf("shard %d held by %q (expired %v)", l.Shard, l.Node, l.Expired)
		}
		if !h.fake.Connected(l.Shard) {
			return false, fmt.Sprintf("shard %d not connected", l.Shard)
		}
		per[l.Node]++
	}
	share := (shards + len(live) - 1) / len(live)
	for _, n := range live {
		if per[n.id] < shards/len(live) || per[n.id] > share {
			return false, fmt.Sprintf("unbalanced: %v", per)
		}
	}
	return true, ""
}

// dashboardAddr is where a node's dashboard listens (from its log).
func (h *harness) dashboardAddr(n *node) string {
	h.t.Helper()
	b, _ := logs.Load(n.id)
	for _, line := range strings.Split(b.(*syncbuf.Buffer).String(), "\n") {
		if strings.Contains(line, `msg="dashboard listening"`) {
			for _, f := range strings.Fields(line) {
				if v, ok := strings.CutPrefix(f, "addr="); ok {
					return v
				}
			}
		}
	}
	h.t.Fatalf("%s: no dashboard address in its log", n.id)
	return ""
}

func (h *harness) owned(n *node) []int {
	var out []int
	for _, l := range h.leases() {
		if l.Node == n.id && !l.Expired {
			out = append(out, l.Shard)
		}
	}
	return out
}

// counts reads the count plugin's KV: message id → times handled, for
// keys of the prefix.
func (h *harness) counts(prefix string) map[string]int {
	h.t.Helper()
	db, err := sql.Open("postgres", h.dsn)
	if err != nil {
		h.t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT key, value FROM kv WHERE plugin_id = 'count' AND starts_with(key, $1)`, prefix)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var k string
		var v []byte
		if err := rows.Scan(&k, &v); err != nil {
			h.t.Fatal(err)
		}
		var n int
		if err := json.Unmarshal(v, &n); err != nil {
			h.t.Fatalf("value of %s: %q", k, v)
		}
		out[strings.TrimPrefix(k, prefix)] = n
	}
	return out
}

// checkExactlyOnce waits until every message the stream dispatched is
// counted, then checks each was counted exactly once.
func (h *harness) checkExactlyOnce(what string) {
	h.t.Helper()
	h.waitFor(what+": stream done", 3*time.Minute, func() (bool, string) {
		st := h.fake.Stats()
		return st.StreamDone, fmt.Sprintf("%d messages so far", st.StreamMessages)
	})
	h.checkCounted(what, "n:", h.fake.StreamIDs())
}

// checkCounted waits until every message of ids is counted under prefix,
// then checks each was counted exactly once.
func (h *harness) checkCounted(what, prefix string, ids []string) {
	h.t.Helper()
	var c map[string]int
	h.waitFor(what+": every message counted", 2*time.Minute, func() (bool, string) {
		c = h.counts(prefix)
		missing := 0
		for _, id := range ids {
			if c[id] == 0 {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("%d of %d messages not counted", missing, len(ids))
	})
	var doubled []string
	for _, id := range ids {
		if c[id] != 1 {
			doubled = append(doubled, fmt.Sprintf("%s×%d", id, c[id]))
		}
	}
	if len(doubled) > 0 {
		h.t.Errorf("%s: %d messages handled more than once: %v", what, len(doubled), doubled)
	}
	if len(c) != len(ids) {
		h.t.Errorf("%s: %d messages counted, %d dispatched", what, len(c), len(ids))
	}
	st := h.fake.Stats()
	if st.IdentifyViolations != 0 {
		h.t.Errorf("%s: %d identifies broke the limits", what, st.IdentifyViolations)
	}
	h.t.Logf("%s: %d messages dispatched in all; identifies %d, resumes %d", what, len(ids), st.Identifies, st.Resumes)
}

// TestClusterScenarios runs the three scenarios on one cluster, one after
// another, each with its own stream of messages.
func TestClusterScenarios(t *testing.T) {
	h := newHarness(t)
	msgs, rate := 300, 60.0
	if os.Getenv("MAID_STRESS") != "" {
		msgs, rate = 3000, 100
	}
	a, b, c := h.start(false), h.start(false), h.start(true)
	h.waitFor("three nodes hold the shards", 2*time.Minute, func() (bool, string) { return h.settled(a, b, c) })
	if got := h.fake.Stats().Identifies; got != shards {
		t.Errorf("identifies at start: %d, want %d (one per shard; hand-overs resume)", got, shards)
	}

	t.Run("kill9", func(t *testing.T) {
		h.t = t
		victim := a
		lost := h.owned(victim)
		h.fake.StartStream(rate, msgs)
		h.waitFor("load", time.Minute, func() (bool, string) { return h.fake.Stats().StreamMessages > msgs/3, "" })
		killed := time.Now()
		h.kill9(victim)
		h.waitFor("shards of the killed node resumed elsewhere", 15*time.Second, func() (bool, string) {
			return h.settled(b, c)
		})
		t.Logf("shards %v of %s resumed elsewhere %v after kill -9", lost, victim.id, time.Since(killed).Round(100*time.Millisecond))
		h.checkExactlyOnce("kill -9")
		h.fake.StopStream()
	})
	if t.Failed() {
		return
	}
	a = h.replace(t, b, c)

	t.Run("cut-off", func(t *testing.T) {
		h.t = t
		before := h.fake.Stats().Displaced
		h.fake.RestartStream(rate, msgs)
		h.waitFor("load", time.Minute, func() (bool, string) { return h.fake.Stats().StreamMessages > msgs/3, "" })
		c.proxy.cut()
		h.waitFor("shards of the cut-off node taken over", 30*time.Second, func() (bool, string) {
			return h.settled(a, b)
		})
		// The cut-off node closed its sessions before the new owners
		// resumed them: no resume found the old connection still there.
		if d := h.fake.Stats().Displaced - before; d != 0 {
			t.Errorf("%d sessions were still held by the cut-off node when another node resumed them", d)
		}
		h.checkExactlyOnce("cut off from PostgreSQL")
		h.fake.StopStream()
		h.kill9(c)
	})
	if t.Failed() {
		return
	}
	c = h.replace(t, a, b)

	t.Run("rolling-restart", func(t *testing.T) {
		h.t = t
		identifies := h.fake.Stats().Identifies
		h.fake.RestartStream(rate/2, msgs)
		live := []*node{a, b, c}
		for i := range live {
			old := live[i]
			if i == 0 { // by the command; the others by SIGTERM
				out, err := exec.Command(h.bin, "cluster", "drain", "--wait", "--db", h.dsn, old.id).CombinedOutput()
				if err != nil {
					t.Fatalf("maid cluster drain: %v\n%s", err, out)
				}
				select {
				case <-old.done:
				case <-time.After(time.Minute):
					t.Fatalf("%s still running a minute after it left", old.id)
				}
				if old.err != nil {
					t.Errorf("%s exited after a drain: %v", old.id, old.err)
				}
			} else {
				h.term(old)
			}
			live[i] = h.start(false)
			h.waitFor("restarted node takes its share", 2*time.Minute, func() (bool, string) { return h.settled(live...) })
		}
		h.checkExactlyOnce("rolling restart")
		if got := h.fake.Stats().Identifies - identifies; got != 0 {
			t.Errorf("%d identifies during the rolling restart; every hand-over should resume", got)
		}
		h.fake.StopStream()
		a, b, c = live[0], live[1], live[2]
	})
	if t.Failed() {
		return
	}

	// A plugin replaced on one node (here: in the store, as the node's
	// install does) is live on every node within 2 s: the messages sent
	// from then on, to every shard, are all handled by the new version.
	t.Run("plugin-propagation", func(t *testing.T) {
		h.t = t
		dir := t.TempDir()
		for _, f := range []string{"manifest.json", "__main__.py"} {
			b, err := os.ReadFile(filepath.Join("testdata/count", f))
			if err != nil {
				t.Fatal(err)
			}
			b = bytes.ReplaceAll(b, []byte(`"1.0.0"`), []byte(`"1.0.1"`))
			b = bytes.ReplaceAll(b, []byte(`key = "n:"`), []byte(`key = "v2:"`))
			if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		var buf bytes.Buffer
		if err := plugin.Pack(dir, &buf); err != nil {
			t.Fatal(err)
		}
		before := len(h.fake.StreamIDs())
		now := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := h.st.PutPlugin(ctx, engine.PluginRecord{ID: "count", Version: "1.0.1", Archive: buf.Bytes(), InstalledAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second) // the bound under test, not a synchronisation
		h.fake.RestartStream(rate, shards*4)
		h.waitFor("stream done", time.Minute, func() (bool, string) { return h.fake.Stats().StreamDone, "" })
		ids := h.fake.StreamIDs()[before:]
		h.checkCounted("after the replacement", "v2:", ids)
		old := h.counts("n:")
		for _, id := range ids {
			if old[id] != 0 {
				t.Errorf("message %s, sent 2s after the replacement, was handled by the old version", id)
			}
		}
	})
	// Sessions and sign-in links live in the store: a sign-in on one node
	// is a session on every node.
	t.Run("dashboard-any-node", func(t *testing.T) {
		h.t = t
		addrA, addrB := h.dashboardAddr(a), h.dashboardAddr(b)
		out, err := exec.Command(h.bin, "admin", "link", "--db", h.dsn, "--base-url", "http://"+addrA).Output()
		if err != nil {
			t.Fatalf("maid admin link: %v", err)
		}
		link := strings.TrimSpace(string(out))
		if i := strings.Index(link, "http://"); i >= 0 {
			link = strings.Fields(link[i:])[0]
		}
		jar, _ := cookiejar.New(nil)
		client := &http.Client{Jar: jar, Timeout: 30 * time.Second}
		// Not signed in yet: node B refuses (401) or sends to sign in.
		resp, err := client.Get("http://" + addrB + "/servers")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 200 && !strings.HasPrefix(resp.Request.URL.Path, "/login") {
			t.Fatalf("node B without a session: %d %s, want a refusal or the sign-in page", resp.StatusCode, resp.Request.URL)
		}
		resp, err = dashboard.OpenSignInLink(context.Background(), client, link) // the link's page, then its button
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Request.URL.Path != "/servers" {
			t.Fatalf("signing in on node A: %d %s", resp.StatusCode, resp.Request.URL)
		}
		// Cookies do not depend on the port: the same cookie goes to node B.
		resp, err = client.Get("http://" + addrB + "/servers")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || strings.HasPrefix(resp.Request.URL.Path, "/login") {
			t.Fatalf("node B after signing in on node A: %d %s", resp.StatusCode, resp.Request.URL)
		}
	})
	h.t = t
	out, err := exec.Command(h.bin, "cluster", "status", "--db", h.dsn).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "HANDOVERS") {
		t.Errorf("maid cluster status: %v\n%s", err, out)
	}
	t.Logf("maid cluster status:\n%s", out)
	out, err = exec.Command(h.bin, "cluster", "status", "--json", "--db", h.dsn).Output()
	var st struct {
		Nodes  []cluster.Node
		Leases []cluster.Lease
	}
	if err != nil || json.Unmarshal(out, &st) != nil || len(st.Leases) != shards {
		t.Fatalf("maid cluster status --json: %v\n%s", err, out)
	}
	for _, l := range st.Leases {
		// Every shard moved at least once (the rolling restart moved all).
		if l.Handovers == 0 || l.Generation < 2 || l.Node == "" {
			t.Errorf("status of shard %d shows no hand-over: %+v", l.Shard, l)
		}
	}
}

// proxy forwards TCP to PostgreSQL until cut. A cut is a silent
// partition: connections stay open and what is sent is dropped, so the
// node's database calls hang (they do not fail fast); it must stop its
// shards on its own clock before its leases can expire.
type proxy struct {
	ln     net.Listener
	mu     sync.Mutex
	conns  []net.Conn
	frozen bool
	closed bool
	wg     sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			frozen := p.frozen
			p.conns = append(p.conns, in)
			p.mu.Unlock()
			if frozen { // held open, never answered
				p.wg.Add(1)
				go func() { defer p.wg.Done(); p.pipe(io.Discard, in) }()
				continue
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, out)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); p.pipe(out, in) }()
			go func() { defer p.wg.Done(); p.pipe(in, out) }()
		}
	}()
	t.Cleanup(p.close)
	return p
}

// pipe copies src to dst until src fails, dropping everything once the
// proxy is frozen.
func (p *proxy) pipe(dst io.Writer, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			frozen := p.frozen
			p.mu.Unlock()
			if !frozen {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

// cut partitions the node from PostgreSQL.
func (p *proxy) cut() {
	p.mu.Lock()
	p.frozen = true
	p.mu.Unlock()
}

// close ends the proxy and every connection through it.
func (p *proxy) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed, p.frozen = true, true
	conns := p.conns
	p.mu.Unlock()
	p.ln.Close()
	for _, c := range conns {
		c.Close()
	}
	p.wg.Wait()
}
