package reliability

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"github.com/maidhq/maid/engine"
	"github.com/maidhq/maid/internal/pgtest"
)

// The faults here restart shared services (the PostgreSQL cluster, the
// Docker engine), which would break other users' work on a shared machine:
// they run only in the long form (MAID_STRESS=1, `make stress`).

// freshPostgres creates a throwaway database on MAID_TEST_POSTGRES_DSN's
// server; it and maid's plugin roles for it are dropped at cleanup.
func freshPostgres(t *testing.T) string { return pgtest.Fresh(t, "maid_rel_") }

// eventually retries f until it succeeds or two minutes pass (a liveness
// bound, not a timing assertion).
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s never recovered: %v", what, err)
}

// TestPostgresRestart restarts the PostgreSQL cluster under a running
// engine: calls fail with a clear error while it is down and succeed again
// afterwards with no action on maid's side.
func TestPostgresRestart(t *testing.T) {
	if !stress() {
		t.Skip("restarts the shared PostgreSQL cluster: long form only (MAID_STRESS=1, make stress)")
	}
	cluster := os.Getenv("MAID_PG_CLUSTER") // "15 main"
	if cluster == "" {
		cluster = "15 main"
	}
	if _, err := exec.LookPath("pg_ctlcluster"); err != nil {
		t.Skip("pg_ctlcluster not found")
	}
	dsn := freshPostgres(t)
	nb := backends(t)[0]
	r := startEngine(t, nb.b, dsn, t.TempDir(), testLimits())
	ctx := context.Background()
	installEnabled(t, r.eng, goodPlugin, "1")
	put := func(key string) error {
		raw, _ := json.Marshal(map[string]any{"key": key, "value": key})
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		_, err := r.eng.CallDashboard(cctx, "good", "1", "put", raw)
		return err
	}
	if err := put("before"); err != nil {
		t.Fatal(err)
	}
	args := append(strings.Fields(cluster), "stop")
	if out, err := exec.Command("pg_ctlcluster", args...).CombinedOutput(); err != nil {
		t.Fatalf("pg_ctlcluster %v: %v: %s", args, err, out)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			exec.Command("pg_ctlcluster", append(strings.Fields(cluster), "start")...).Run()
		}
	})
	err := put("while-down")
	t.Logf("while PostgreSQL is down: %v", err)
	if err == nil || !(strings.Contains(err.Error(), "unavailable") || strings.Contains(err.Error(), "connect")) {
		t.Fatalf("call with the database down: %v, want a clear unavailable/connection error", err)
	}
	if out, err := exec.Command("pg_ctlcluster", append(strings.Fields(cluster), "start")...).CombinedOutput(); err != nil {
		t.Fatalf("pg_ctlcluster start: %v: %s", err, out)
	}
	restarted = true
	eventually(t, "kv write after the PostgreSQL restart", func() error { return put("after") })
	v, found, err := r.st.KVGet(ctx, engine.Scope{PluginID: "good", ServerID: "1"}, "before")
	if err != nil || !found || string(v) != `"before"` {
		t.Fatalf("write acknowledged before the restart: %s %v %v", v, found, err)
	}
}

// TestDockerEngineRestart restarts the Docker engine under a running maid:
// the docker backend reconnects and the plugin serves again from a new
// container. MAID_DOCKER_RESTART is the shell command that restarts the
// engine on this machine (e.g. "systemctl restart docker"); without it the
// test skips, since a restart it cannot verify proves nothing.
func TestDockerEngineRestart(t *testing.T) {
	if !stress() {
		t.Skip("restarts the shared Docker engine: long form only (MAID_STRESS=1, make stress)")
	}
	cmd := os.Getenv("MAID_DOCKER_RESTART")
	if cmd == "" {
		t.Skip(`set MAID_DOCKER_RESTART to the command that restarts the Docker engine here (e.g. "systemctl restart docker")`)
	}
	var nb *namedBackend
	for _, b := range backends(t) {
		if b.name == "docker" {
			nb = &b
		}
	}
	if nb == nil {
		t.Skip("docker backend unavailable")
	}
	w := startWorld(t, nb.b, testLimits())
	containers := func() string {
		out, err := exec.Command("docker", "ps", "-q", "--filter", "label=dev.maid.plugin=good").Output()
		if err != nil {
			t.Fatalf("docker ps: %v", err)
		}
		return strings.TrimSpace(string(out))
	}
	before := containers()
	if out, err := exec.Command("sh", "-c", cmd).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", cmd, err, out)
	}
	eventually(t, "docker engine", func() error { return exec.Command("docker", "info").Run() })
	eventually(t, "plugin call after the Docker engine restart", func() error {
		_, err := w.call("good", "1", "ping", nil)
		return err
	})
	w.goodAnswers(t)
	after := containers()
	if after == "" || strings.Contains(after, before) {
		t.Fatalf("containers before %q, after %q: the engine was not restarted, or the plugin not restarted in a new container", before, after)
	}
	w.logged(t, "good", "restarting")
}
