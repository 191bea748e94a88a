// Package docker is the sandbox backend that runs each plugin in its own
// hardened Docker container, through the Docker Engine API.
//
// It works against a remote engine (DOCKER_HOST) over the engine's attach
// stream, with plugin files copied in through the engine (see tarDir). With
// a local engine it skips dockerd: protocol lines go over a Unix socket in
// a private bind-mounted directory and maid copies the plugin files itself
// (see local.go). The SDK comes from the image or a volume (see
// sdkVolume). Build the default image with `make docker-image`.
package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/maidhq/maid/sandbox"
	"github.com/maidhq/maid/sandbox/internal/pool"
)

var _ sandbox.Backend = (*Backend)(nil)

// DefaultImage is the image `make docker-image` builds.
const DefaultImage = "maid/python:3.11"

// minMemoryBytes is the smallest memory limit the engine accepts.
const minMemoryBytes = 6 << 20

// Labels on everything this backend creates. The host and pid labels let a
// later process tell containers of a crashed maid (orphans) from those of a
// maid that is still running, even when several share one engine.
const (
	labelOwner  = "dev.maid.owner"
	ownerValue  = "maid"
	labelPlugin = "dev.maid.plugin"
	labelName   = "dev.maid.name"
	labelRole   = "dev.maid.role" // "plugin", "pool" or "sdk-helper"
	labelHost   = "dev.maid.host"
	labelPID    = "dev.maid.pid"
	labelSDK    = "dev.maid.sdk"
)

// Options configure a Backend. The zero value is usable.
type Options struct {
	// Image to run; default DefaultImage. (Flags and the environment are
	// cmd/maid's: its --docker-image defaults to $MAID_DOCKER_IMAGE.)
	Image string
	// PoolSize is how many idle containers to keep started, waiting for a
	// plugin, so Start skips create/attach/start. 0 disables the pool. Only
	// specs with default limits and no Env use the pool.
	PoolSize int
	// Limits fill a Spec's zero fields; their own zero fields take
	// sandbox.DefaultLimits.
	Limits sandbox.Limits
	// Client talks to the engine; default client.FromEnv with API version
	// negotiation. The Backend closes it only if it made it.
	Client *client.Client
	// MaxStarting caps the containers being created and started at once;
	// more Starts wait their turn (bounded by their context). Default
	// DefaultMaxStarting.
	MaxStarting int
	// DataPath is how protocol lines travel: DataPathSocket (a Unix socket
	// in a private bind-mounted directory, past dockerd; needs a local
	// engine), DataPathAttach (the engine's attach stream; works remotely),
	// or DataPathAuto/"" (socket when the engine is local). See local.go.
	DataPath string
	// SocketDir is where the socket path keeps its per-container
	// directories; default /run/maid-docker as root, else
	// $TMPDIR/maid-docker-UID. It must be private to maid's uid.
	SocketDir string
	// Runtime is the OCI runtime containers run under (the engine's
	// --runtime, e.g. "runsc" for gVisor); "" is the engine's default.
	// New fails, naming the runtimes the engine offers, if it has no
	// such runtime.
	Runtime string
}

// DefaultMaxStarting is Options.MaxStarting's default. Why a cap: dockerd
// serves a burst of creates and starts all at once, so 100 cold plugins
// woken by one event made every start slow, and on a 2-core machine some
// took longer than engineTimeout and failed. Queued, they finish sooner.
const DefaultMaxStarting = 8

// Backend runs plugins in Docker containers. Safe for concurrent use.
type Backend struct {
	cli       *client.Client
	ownClient bool
	image     string
	defaults  sandbox.Limits
	mounts    []mount.Mount // SDK volume, if the image lacks this SDK
	sdkVol    string        // its name, removed at Close; "" if none
	host      string
	pid       string
	ncpu      int // engine's CPU count; 0 if unknown
	runtime   string
	dataPath  string  // DataPathSocket or DataPathAttach
	io        *ioBase // the socket path's directories; nil on attach

	starting chan struct{} // a slot per container being created and started

	poolSize int
	pool     *pool.Pool[*instance] // idle containers, created with defaults

	closeOnce sync.Once
}

// New connects to the engine, checks the image, removes containers left by
// a crashed maid and starts the pool. Errors wrap sandbox.ErrUnavailable
// when the engine or image is missing; the message names the fix.
func New(ctx context.Context, opts Options) (*Backend, error) {
	if opts.PoolSize < 0 {
		return nil, fmt.Errorf("docker backend: %w: pool size must not be negative", sandbox.ErrBadSpec)
	}
	if opts.MaxStarting < 0 {
		return nil, fmt.Errorf("docker backend: %w: max starting must not be negative", sandbox.ErrBadSpec)
	}
	if opts.MaxStarting == 0 {
		opts.MaxStarting = DefaultMaxStarting
	}
	if err := opts.Limits.Validate(); err != nil {
		return nil, fmt.Errorf("docker backend: default limits: %w", err)
	}
	b := &Backend{
		cli:      opts.Client,
		image:    opts.Image,
		defaults: opts.Limits.WithDefaults(),
		pid:      strconv.Itoa(os.Getpid()),
		poolSize: opts.PoolSize,
		starting: make(chan struct{}, opts.MaxStarting),
	}
	if b.image == "" {
		b.image = DefaultImage
	}
	b.host, _ = os.Hostname()
	if b.cli == nil {
		cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
		if err != nil {
			return nil, fmt.Errorf("docker backend: %w: docker client: %w", sandbox.ErrUnavailable, err)
		}
		b.cli, b.ownClient = cli, true
	}
	fail := func(err error) (*Backend, error) {
		if b.ownClient {
			b.cli.Close()
		}
		return nil, err
	}
	if _, err := b.cli.Ping(ctx); err != nil {
		return fail(fmt.Errorf("docker backend: %w: docker engine unreachable at %s (start dockerd, or set DOCKER_HOST): %w",
			sandbox.ErrUnavailable, b.cli.DaemonHost(), err))
	}
	info, err := b.cli.Info(ctx)
	if err != nil {
		return fail(fmt.Errorf("docker backend: %w: engine info: %w", sandbox.ErrUnavailable, err))
	}
	b.ncpu = info.NCPU
	if b.runtime = opts.Runtime; b.runtime != "" {
		if _, ok := info.Runtimes[b.runtime]; !ok {
			names := make([]string, 0, len(info.Runtimes))
			for n := range info.Runtimes {
				names = append(names, n)
			}
			sort.Strings(names)
			return fail(fmt.Errorf("docker backend: %w: OCI runtime %q: the engine at %s has no such runtime; it offers %s (default %s)",
				sandbox.ErrBadSpec, b.runtime, b.cli.DaemonHost(), strings.Join(names, ", "), info.DefaultRuntime))
		}
	}
	if b.dataPath, err = resolveDataPath(opts.DataPath, b.cli.DaemonHost(), info.DockerRootDir, info.SecurityOptions); err != nil {
		return fail(fmt.Errorf("docker backend: %w", err))
	}
	if !runcLike(b.runtime) && (opts.DataPath == "" || opts.DataPath == DataPathAuto) {
		// gVisor's gofer or a Kata VM sits between the guest and a bind-
		// mounted socket: the peer is not the guest's uid, or the socket
		// does not cross. Untested there, so auto picks attach; asking for
		// socket is the operator's call.
		b.dataPath = DataPathAttach
	}
	if b.ncpu > 0 && b.defaults.CPUs > float64(b.ncpu) {
		return fail(fmt.Errorf("docker backend: %w: limits.CPUs %.2f exceeds the engine's %d CPUs", sandbox.ErrBadSpec, b.defaults.CPUs, b.ncpu))
	}
	img, err := b.cli.ImageInspect(ctx, b.image)
	if cerrdefs.IsNotFound(err) {
		return fail(fmt.Errorf("docker backend: %w: image %s not found (build it with `make docker-image`)", sandbox.ErrUnavailable, b.image))
	}
	if err != nil {
		return fail(fmt.Errorf("docker backend: %w: inspect image %s: %w", sandbox.ErrUnavailable, b.image, err))
	}
	var imageLabels map[string]string
	if img.Config != nil {
		imageLabels = img.Config.Labels
	}
	if err := b.removeOrphans(ctx); err != nil {
		return fail(err)
	}
	if b.dataPath == DataPathSocket {
		parent := opts.SocketDir
		if parent == "" {
			parent = defaultIOParent()
		}
		if b.io, err = newIOBase(parent); err != nil {
			return fail(fmt.Errorf("docker backend: %w: %w", sandbox.ErrUnavailable, err))
		}
	}
	b.mounts, b.sdkVol, err = sdkVolume(ctx, b.cli, b.image, imageLabels, b.labels("sdk-helper", "", ""))
	if err != nil {
		if b.io != nil {
			b.io.close()
		}
		return fail(fmt.Errorf("docker backend: %w: %w", sandbox.ErrUnavailable, err))
	}

	b.pool = pool.New(pool.Config[*instance]{
		Size:    b.poolSize,
		Warm:    b.warm,
		Discard: (*instance).discard,
	})
	return b, nil
}

// Name implements sandbox.Backend.
func (b *Backend) Name() string { return "docker" }

// Image is the image containers run.
func (b *Backend) Image() string { return b.image }

// DataPath is the data path in use: DataPathSocket or DataPathAttach.
func (b *Backend) DataPath() string { return b.dataPath }

// Runtime is the OCI runtime containers run under ("" is the engine's default).
func (b *Backend) Runtime() string { return b.runtime }

// Describe says how this backend runs containers, for `maid bench`:
// data_path (socket or attach), runtime (the OCI runtime, "default" for
// the engine's) and sdk (image, or volume when the image lacks this SDK).
func (b *Backend) Describe() map[string]string {
	rt, sdk := b.runtime, "image"
	if rt == "" {
		rt = "default"
	}
	if b.sdkVol != "" {
		sdk = "volume"
	}
	return map[string]string{"data_path": b.dataPath, "runtime": rt, "sdk": sdk}
}

// Close stops the pool and removes its idle containers, and this Backend's
// SDK volume unless instances still running use it (then the next maid's
// orphan sweep removes it). Started instances are left alone. Safe to call
// more than once.
func (b *Backend) Close() error {
	b.closeOnce.Do(func() {
		b.pool.Close()
		if b.sdkVol != "" {
			ctx, cancel := context.WithTimeout(context.Background(), engineTimeout)
			b.cli.VolumeRemove(ctx, b.sdkVol, false) // a conflict (in use) keeps it
			cancel()
		}
		if b.io != nil {
			b.io.close()
		}
		if b.ownClient {
			b.cli.Close()
		}
	})
	return nil
}

// Start implements sandbox.Backend.
func (b *Backend) Start(ctx context.Context, spec sandbox.Spec) (sandbox.Instance, error) {
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("docker start %q: %w", spec.Name, err)
	}
	limits := spec.Limits.Or(b.defaults)
	if limits.MemoryBytes < minMemoryBytes {
		return nil, fmt.Errorf("docker start %q: %w: limits.MemoryBytes must be at least %d (engine minimum)", spec.Name, sandbox.ErrBadSpec, minMemoryBytes)
	}
	if b.ncpu > 0 && limits.CPUs > float64(b.ncpu) {
		return nil, fmt.Errorf("docker start %q: %w: limits.CPUs %.2f exceeds the engine's %d CPUs", spec.Name, sandbox.ErrBadSpec, limits.CPUs, b.ncpu)
	}
	for k := range spec.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return nil, fmt.Errorf("docker start %q: %w: env name %q must be non-empty without '=' or NUL", spec.Name, sandbox.ErrBadSpec, k)
		}
	}
	// The attach path copies a tar in through the engine; the socket path
	// copies the dir itself, into the container's bind-mounted plugin dir.
	var files []byte
	if b.dataPath == DataPathAttach {
		var err error
		if files, err = tarDir(spec.Dir); err != nil {
			return nil, fmt.Errorf("docker start %q: %w", spec.Name, err)
		}
	}

	if b.poolSize > 0 && len(spec.Env) == 0 && sameContainerLimits(limits, b.defaults) {
		for {
			inst, ok := b.pool.Take()
			if !ok {
				break
			}
			err := inst.activate(ctx, spec.Dir, files, spec.Entry, limits.WallTime)
			if err == nil {
				return inst, nil
			}
			inst.discard()
			if ctx.Err() != nil || errors.Is(err, sandbox.ErrBadSpec) {
				return nil, fmt.Errorf("docker start %q: %w", spec.Name, err)
			}
			// The pooled container died or broke: try the next.
		}
	}

	select {
	case b.starting <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("docker start %q: waiting for one of %d start slots: %w", spec.Name, cap(b.starting), ctx.Err())
	}
	defer func() { <-b.starting }()
	inst, err := b.create(ctx, spec.Name, spec.PluginID, "plugin", limits, spec.Env)
	if err != nil {
		return nil, fmt.Errorf("docker start %q: %w", spec.Name, err)
	}
	if err := inst.activate(ctx, spec.Dir, files, spec.Entry, limits.WallTime); err != nil {
		inst.discard()
		return nil, fmt.Errorf("docker start %q: %w", spec.Name, err)
	}
	return inst, nil
}

// sameContainerLimits reports whether a container made with b's limits
// enforces a's; wall time is the backend's own timer, so it may differ.
func sameContainerLimits(a, b sandbox.Limits) bool {
	a.WallTime, b.WallTime = 0, 0
	return a == b
}

func (b *Backend) labels(role, name, plugin string) map[string]string {
	return map[string]string{
		labelOwner:  ownerValue,
		labelRole:   role,
		labelName:   name,
		labelPlugin: plugin,
		labelHost:   b.host,
		labelPID:    b.pid,
	}
}

// removeOrphans force-removes maid containers, and the scratch, plugin and
// SDK volumes, whose maid process, on this host, no longer runs. Those of other
// hosts (a shared remote engine) and of live processes are left alone.
func (b *Backend) removeOrphans(ctx context.Context) error {
	list, err := b.cli.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", labelOwner+"="+ownerValue), filters.Arg("label", labelHost+"="+b.host)),
	})
	if err != nil {
		return fmt.Errorf("docker backend: %w: list containers: %w", sandbox.ErrUnavailable, err)
	}
	var errs []error
	for _, c := range list {
		pid, err := strconv.Atoi(c.Labels[labelPID])
		if err == nil && processAlive(pid) {
			continue
		}
		err = b.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove orphaned container %s: %w", c.ID[:12], err))
		}
	}
	// Then the volumes such containers used: scratch volumes are named,
	// so removing a container does not remove them, and a crash between
	// the two leaves one behind. A volume some container still uses is
	// refused by the engine (conflict) and kept.
	vols, err := b.cli.VolumeList(ctx, volume.ListOptions{
		Filters: filters.NewArgs(filters.Arg("label", labelOwner+"="+ownerValue), filters.Arg("label", labelHost+"="+b.host)),
	})
	if err != nil {
		return fmt.Errorf("docker backend: %w: list volumes: %w", sandbox.ErrUnavailable, err)
	}
	for _, v := range vols.Volumes {
		if role := v.Labels[labelRole]; role != "scratch" && role != "plugin-files" && role != "sdk" {
			// SDK volumes of maids before per-maid ones carry no role:
			// shared by every maid of that SDK, nobody may prune them.
			continue
		}
		pid, err := strconv.Atoi(v.Labels[labelPID])
		if err == nil && processAlive(pid) {
			continue
		}
		err = b.cli.VolumeRemove(ctx, v.Name, false)
		if err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) {
			errs = append(errs, fmt.Errorf("remove orphaned volume %s: %w", v.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("docker backend: %w", err)
	}
	return nil
}

// warm creates an idle container for the pool, taking a start slot like
// Start does. The pool owns it until Start takes it.
func (b *Backend) warm(ctx context.Context) (*instance, error) {
	select {
	case b.starting <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-b.starting }()
	// Not ctx: a create cut short could leave a container the engine made
	// but nobody owns. The pool's Close waits for this one and discards it.
	cctx, cancel := context.WithTimeout(context.Background(), engineTimeout)
	defer cancel()
	return b.create(cctx, "", "", "pool", b.defaults, nil)
}
