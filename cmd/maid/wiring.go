package main

// This is the one file that chooses implementations by name: sandbox
// backends and stores. Everything else sees only the contracts.

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/maidhq/maid/sandbox"
	"github.com/maidhq/maid/sandbox/docker"
	"github.com/maidhq/maid/sandbox/process"
	"github.com/maidhq/maid/sandbox/wasm"
	"github.com/maidhq/maid/store"
)

// Backends lists the sandbox backends by name.
var Backends = []string{"wasm", "docker", "process"}

// envOr returns $MAID_<name> or def.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv("MAID_" + name); ok {
		return v
	}
	return def
}

func envBool(name string, def bool) bool {
	if v, ok := os.LookupEnv("MAID_" + name); ok {
		if b, err := strconv.ParseBool(v); err == nil {
			return b
		}
	}
	return def
}

func envInt(name string, def int) int {
	if v, ok := os.LookupEnv("MAID_" + name); ok {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, ok := os.LookupEnv("MAID_" + name); ok {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}

// backendFlags are the flags every command that runs plugins shares.
type backendFlags struct {
	name        string
	pool        int
	pythonWasm  string
	freshStarts bool
	dockerImage string
	// dockerRuntime and dockerDataPath: see docker.Options.Runtime and
	// DataPath.
	dockerRuntime  string
	dockerDataPath string
}

func (b *backendFlags) register(fs *flag.FlagSet, defPool int) {
	fs.StringVar(&b.name, "backend", envOr("BACKEND", "wasm"), "sandbox backend: wasm, docker or process (unsandboxed, development only)")
	b.registerTuning(fs, defPool)
}

// registerTuning registers the backends' tuning flags without -backend
// (maid bench picks backends with -backends).
func (b *backendFlags) registerTuning(fs *flag.FlagSet, defPool int) {
	fs.IntVar(&b.pool, "pool", envInt("POOL", defPool), "warm pool size of the backend (0 disables)")
	fs.StringVar(&b.pythonWasm, "python-wasm", envOr("PYTHON_WASM_DIR", ""), "directory of the CPython WASI build (default build/python-wasi; make python-wasm)")
	fs.BoolVar(&b.freshStarts, "wasm-fresh-starts", envBool("WASM_FRESH_STARTS", false), "wasm: start every interpreter from scratch instead of from the start-up snapshot (slower; no string-hash secret shared between plugins)")
	fs.StringVar(&b.dockerImage, "docker-image", envOr("DOCKER_IMAGE", ""), "plugin image for the docker backend (default maid/python:3.11; make docker-image)")
	fs.StringVar(&b.dockerRuntime, "docker-runtime", envOr("DOCKER_RUNTIME", ""), "docker backend: OCI runtime for plugin containers, e.g. runsc (gVisor) or kata; must be one the engine offers (default: the engine's default; see docs/security.md)")
	fs.StringVar(&b.dockerDataPath, "docker-data-path", envOr("DOCKER_DATA_PATH", docker.DataPathAuto), "docker backend: how protocol lines travel: socket (a Unix socket past dockerd; local engine only), attach (the engine's attach stream; any engine) or auto (socket when the engine is local)")
}

// pythonWasmDir is the interpreter dir: the flag or $MAID_PYTHON_WASM_DIR,
// else build/python-wasi under the working directory, else next to this
// binary's checkout (bin/maid → ../build/python-wasi), so bin/maid works
// from any directory after `make python-wasm`.
func pythonWasmDir(flagged string) string {
	if flagged != "" {
		return flagged
	}
	if _, err := os.Stat(wasm.DefaultPythonDir); err == nil {
		return wasm.DefaultPythonDir
	}
	if exe, err := os.Executable(); err == nil {
		dir := filepath.Join(filepath.Dir(exe), "..", wasm.DefaultPythonDir)
		if _, err := os.Stat(dir); err == nil {
			return dir
		}
	}
	return "" // wasm.New's default, and its error naming `make python-wasm`
}

// openBackend starts the named sandbox backend.
func openBackend(ctx context.Context, f backendFlags, log *slog.Logger) (sandbox.Backend, error) {
	switch f.name {
	case "wasm":
		return wasm.New(ctx, wasm.Config{PythonDir: pythonWasmDir(f.pythonWasm), PoolSize: f.pool, FreshStarts: f.freshStarts, Logger: log})
	case "docker":
		return docker.New(ctx, docker.Options{Image: f.dockerImage, PoolSize: f.pool, Runtime: f.dockerRuntime, DataPath: f.dockerDataPath})
	case "process":
		log.Warn("!!! the process backend runs plugins as plain host subprocesses with NO SANDBOX: development and benchmarks only, never untrusted plugins !!!")
		return process.New(process.Config{})
	}
	return nil, fmt.Errorf("backend %q: unknown; choose one of %v", f.name, Backends)
}

// openStore opens the store named by a DSN: sqlite://PATH or postgres://...
// Plugin SQL databases (SQLite) live beside the main database file.
// openStore opens the store at dsn; on SQLite, plugin SQL databases live
// under dataDir (empty: beside the main database).
func openStore(ctx context.Context, dsn, dataDir string, log *slog.Logger) (*store.Store, error) {
	return store.Open(ctx, dsn, store.Options{Logger: log, DataDir: dataDir})
}
