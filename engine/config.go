// Package engine hosts plugins: it installs them, starts their sandboxed
// instances on demand, routes Discord events and dashboard calls to them in
// order, serves their host calls (kv, metrics, sql, discord, log) scoped to
// the server of the call, and restarts or stops them.
//
// The engine depends only on maid's contracts (sandbox, rpc, plugin) and on
// the ports it defines (ports.go); adapters for databases, Discord and HTTP
// implement those ports elsewhere.
package engine

import (
	"log/slog"
	"time"

	"github.com/maidhq/maid/plugin"
	"github.com/maidhq/maid/sandbox"
)

// Limits bound what plugins may do. Zero fields take DefaultLimits' values.
type Limits struct {
	MemoryMB    int // default per-instance memory
	MaxMemoryMB int // cap on a manifest's memory_mb request

	EventTimeout     time.Duration // per event handler call
	MaxEventTimeout  time.Duration // cap on a manifest's event_timeout_ms
	DashboardTimeout time.Duration // per dashboard handler call (spec: 10 s)
	HandshakeTimeout time.Duration // start to maid.hello
	// InstallTimeout bounds the install-time start check (backend start
	// and handshake; HandshakeTimeout still bounds the wait for hello).
	// It is long because a backend's first start may compile python.wasm.
	// Negative: no check (tests of what a running engine does with a
	// plugin that fails to start).
	InstallTimeout time.Duration
	ShutdownGrace  time.Duration // plugin.shutdown to kill

	QueueSize   int           // pending events per plugin
	IdleTimeout time.Duration // stop an instance unused this long; 0 default, negative never
	BackoffMin  time.Duration // first restart delay after a crash
	BackoffMax  time.Duration

	KeyBytes   int   // longest KV key
	ValueBytes int   // largest KV value (JSON bytes)
	BatchKeys  int   // most keys in one get_many/set_many
	Quota      Quota // per (plugin, server)
	// MetricNames bounds the distinct metric names per (plugin, server):
	// each new name adds rows to maid's database for every day it is used.
	MetricNames int

	SQL SQLLimits

	MaxLineBytes int // protocol line limit
	MaxInFlight  int // protocol in-flight limit, each direction

	ScratchBytes int64   // per-instance scratch space
	Pids         int     // per-instance process cap (docker)
	CPUs         float64 // per-instance CPU quota (docker)

	// SettingsTTL bounds how long cached per-server settings (enabled
	// plugins, options) may be used before re-reading the store. Writes
	// through this engine invalidate at once; the TTL covers other nodes.
	// Negative disables the cache.
	SettingsTTL time.Duration

	LogLines   int // log lines kept per plugin
	LogLineLen int // longest log line kept (longer lines are cut)
	LogRate    int // log lines per second per plugin before suppression
}

// DefaultLimits are the limits used where Config.Limits leaves zeros. The
// per-instance ones (memory, scratch, pids, CPUs) are sandbox.DefaultLimits,
// the one place instance defaults live, so the engine and a backend used
// directly agree.
var DefaultLimits = Limits{
	MemoryMB:         int(sandbox.DefaultLimits.MemoryBytes >> 20),
	MaxMemoryMB:      512,
	EventTimeout:     5 * time.Second,
	MaxEventTimeout:  30 * time.Second,
	DashboardTimeout: 10 * time.Second,
	HandshakeTimeout: 10 * time.Second,
	InstallTimeout:   5 * time.Minute,
	ShutdownGrace:    2 * time.Second,
	QueueSize:        256,
	IdleTimeout:      10 * time.Minute,
	BackoffMin:       200 * time.Millisecond,
	BackoffMax:       30 * time.Second,
	KeyBytes:         256,
	ValueBytes:       64 << 10,
	BatchKeys:        1000,
	Quota:            Quota{MaxKeys: 10_000, MaxBytes: 10 << 20},
	MetricNames:      256,
	SQL:              SQLLimits{Timeout: 2 * time.Second, MaxRows: 1000, MaxBytes: 4 << 20, MaxDBBytes: 64 << 20},
	MaxLineBytes:     1 << 20,
	MaxInFlight:      64,
	ScratchBytes:     sandbox.DefaultLimits.ScratchBytes,
	Pids:             sandbox.DefaultLimits.Pids,
	CPUs:             sandbox.DefaultLimits.CPUs,
	SettingsTTL:      2 * time.Second,
	LogLines:         500,
	LogLineLen:       2000,
	LogRate:          50,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	setInt := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	setDur := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	setInt(&l.MemoryMB, d.MemoryMB)
	setInt(&l.MaxMemoryMB, d.MaxMemoryMB)
	setDur(&l.EventTimeout, d.EventTimeout)
	setDur(&l.MaxEventTimeout, d.MaxEventTimeout)
	setDur(&l.DashboardTimeout, d.DashboardTimeout)
	setDur(&l.HandshakeTimeout, d.HandshakeTimeout)
	if l.InstallTimeout == 0 {
		l.InstallTimeout = d.InstallTimeout
	}
	setDur(&l.ShutdownGrace, d.ShutdownGrace)
	setInt(&l.QueueSize, d.QueueSize)
	if l.IdleTimeout == 0 {
		l.IdleTimeout = d.IdleTimeout
	}
	setDur(&l.BackoffMin, d.BackoffMin)
	setDur(&l.BackoffMax, d.BackoffMax)
	setInt(&l.KeyBytes, d.KeyBytes)
	setInt(&l.ValueBytes, d.ValueBytes)
	setInt(&l.BatchKeys, d.BatchKeys)
	setInt(&l.Quota.MaxKeys, d.Quota.MaxKeys)
	setInt(&l.MetricNames, d.MetricNames)
	if l.Quota.MaxBytes <= 0 {
		l.Quota.MaxBytes = d.Quota.MaxBytes
	}
	setDur(&l.SQL.Timeout, d.SQL.Timeout)
	setInt(&l.SQL.MaxRows, d.SQL.MaxRows)
	if l.SQL.MaxBytes <= 0 {
		l.SQL.MaxBytes = d.SQL.MaxBytes
	}
	if l.SQL.MaxDBBytes <= 0 {
		l.SQL.MaxDBBytes = d.SQL.MaxDBBytes
	}
	setInt(&l.MaxLineBytes, d.MaxLineBytes)
	setInt(&l.MaxInFlight, d.MaxInFlight)
	if l.ScratchBytes <= 0 {
		l.ScratchBytes = d.ScratchBytes
	}
	setInt(&l.Pids, d.Pids)
	if l.CPUs <= 0 {
		l.CPUs = d.CPUs
	}
	if l.SettingsTTL == 0 {
		l.SettingsTTL = d.SettingsTTL
	}
	setInt(&l.LogLines, d.LogLines)
	setInt(&l.LogLineLen, d.LogLineLen)
	setInt(&l.LogRate, d.LogRate)
	return l
}

// Config wires an Engine to its ports.
type Config struct {
	Store   Store           // required
	Backend sandbox.Backend // required
	Discord Discord         // nil: discord.* calls fail as unavailable
	// DataDir holds unpacked plugin files (DataDir/plugins/...). Required.
	DataDir  string
	Limits   Limits
	Logger   *slog.Logger
	Observer Observer         // nil: no observation
	Now      func() time.Time // nil: time.Now
	// HostVersion is maid's build version, told to plugins in the
	// handshake (plugin.host_version). Empty: "dev".
	HostVersion string
	// Instances is the operator's instance mode: plugin.InstancesPerPlugin
	// (default, "") runs one instance per plugin unless its manifest asks
	// for per_server; plugin.InstancesPerServer imposes one instance per
	// (plugin, server) on every plugin.
	Instances string
	// DenyPerServer ignores a manifest's "instances": "per_server": such a
	// plugin runs one instance for all servers (logged in its log), so no
	// plugin multiplies its memory by the number of servers on its own.
	// It contradicts Instances per_server.
	DenyPerServer bool
	// MaxInstances caps the plugin instances running on this host (0: no
	// cap). A start past it is refused with ErrLimit, logged in the
	// plugin's log; the event or call it was for fails.
	MaxInstances int
	// MetricsFlush is how often the built-in event metrics (messages,
	// members_joined, members_left), counted in memory, are written to the
	// store; they are also written when Run returns. Zero: 1 s.
	MetricsFlush time.Duration
	// LogSink, if set, gets every line a plugin's log keeps, as it is kept
	// (`maid dev` prints them). It is called with the log's lock held: it
	// must return at once and not call the engine.
	LogSink func(pluginID string, l LogLine)
	// NoRecording turns recordings off: events are not recorded while they
	// run and none are kept, failed or not (an operator who must keep no
	// copy of server data outside the plugins' own storage).
	NoRecording bool
	// TrustedKeys are the publisher keys whose signatures are trusted
	// (nil: none); Unsigned says what happens to unsigned or untrusted
	// packages ("": warn). An invalid signature is always refused.
	TrustedKeys *plugin.Keyring
	Unsigned    plugin.UnsignedPolicy
}

// Observer receives what the engine does, for metrics exporters.
// Implementations must be fast and safe for concurrent use.
type Observer interface {
	// CallDone reports one host→plugin call: kind is "event", "dashboard"
	// or "command"; err is nil on success.
	CallDone(kind, pluginID string, d time.Duration, err error)
	// InstanceStarted and InstanceStopped bracket each instance; restart is
	// true when the start follows a crash.
	InstanceStarted(pluginID string, restart bool)
	InstanceStopped(pluginID string, exit sandbox.Exit)
	// EventOverflow reports an event a plugin's full queue could not take.
	EventOverflow(pluginID string)
}

type nopObserver struct{}

func (nopObserver) CallDone(string, string, time.Duration, error) {}
func (nopObserver) InstanceStarted(string, bool)                  {}
func (nopObserver) InstanceStopped(string, sandbox.Exit)          {}
func (nopObserver) EventOverflow(string)                          {}
