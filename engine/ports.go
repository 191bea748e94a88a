package engine

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// The engine's ports: interfaces it consumes, implemented by adapters it
// never imports (store for SQLite and PostgreSQL, discord for the
// gateway and the simulator). Value types here are plain data.

// Sentinel errors that ports return (wrapped with %w). The engine maps them
// onto rpc codes for plugins and onto HTTP statuses in the dashboard.
var (
	// ErrNotFound: the plugin, setting or row does not exist.
	ErrNotFound = errors.New("not found")
	// ErrQuota: a KV write would pass the (plugin, server) key or byte quota,
	// or a metric would pass the distinct name quota; nothing was written.
	ErrQuota = errors.New("quota exceeded")
	// ErrSQLLimit: a plugin SQL statement hit its timeout or row/size limit.
	ErrSQLLimit = errors.New("sql limit exceeded")
	// ErrSQLDenied: a plugin SQL statement tried something plugins may not do
	// (attach, pragma, another plugin's schema, role changes, ...).
	ErrSQLDenied = errors.New("sql statement not allowed")
	// ErrUnavailable: the adapter is not configured or cannot be reached.
	ErrUnavailable = errors.New("service unavailable")
	// ErrInvalid: bad input to the engine (names the field and the rule).
	ErrInvalid = errors.New("invalid input")
	// ErrCapability: the plugin did not declare the capability the call needs.
	ErrCapability = errors.New("capability not declared")
	// ErrTimeout: a plugin call passed its deadline.
	ErrTimeout = errors.New("plugin call timed out")
	// ErrLimit: a size or count limit other than a quota.
	ErrLimit = errors.New("limit exceeded")
	// ErrPlugin: the plugin's handler raised, or its instance failed.
	ErrPlugin = errors.New("plugin failed")
	// ErrOverflow: a plugin's event queue stayed full; the event was not
	// queued for it (counted in Stats).
	ErrOverflow = errors.New("event queue full")
	// ErrStale: what a person approved is no longer what it would apply
	// to (a newer version was published after the page was shown).
	ErrStale = errors.New("changed since it was shown")
	// ErrForbidden: the call is well formed and its capability declared,
	// but a rule keeps this plugin from it (another plugin's message).
	ErrForbidden = errors.New("forbidden")
	// ErrConflict: the request clashes with what another plugin holds
	// (a slash command name).
	ErrConflict = errors.New("conflict")
)

// Store is all the engine persists. Implementations must be safe for
// concurrent use and must make every write either fully applied or not at all.
type Store interface {
	PluginStore
	KVStore
	MetricsStore
	PluginSQL
	MarketStore
	MessageStore
	// Ping checks the database is reachable (readiness).
	Ping(ctx context.Context) error
	Close() error
}

// PluginRecord is one installed plugin.
type PluginRecord struct {
	ID          string
	Version     string
	Archive     []byte // the plugin zip as installed (deterministic pack)
	InstalledAt time.Time
	UpdatedAt   time.Time
}

// ServerPlugin is one plugin's state on one server.
type ServerPlugin struct {
	ServerID string
	PluginID string
	Enabled  bool
	// Options holds the values saved for this server, by option id, as given
	// (validated by the engine before saving). Missing ids take defaults.
	Options map[string]json.RawMessage
}

// PluginStore keeps installed plugins and per-server settings.
type PluginStore interface {
	// PutPlugin inserts or replaces a plugin by id. Replacing keeps the
	// plugin's data and per-server settings (spec 004).
	PutPlugin(ctx context.Context, p PluginRecord) error
	// GetPlugin returns ErrNotFound if absent.
	GetPlugin(ctx context.Context, id string) (PluginRecord, error)
	// ListPlugins returns every plugin, sorted by id, Archive left nil.
	ListPlugins(ctx context.Context) ([]PluginRecord, error)
	// DeletePlugin removes the plugin, its settings, KV data and SQL data.
	DeletePlugin(ctx context.Context, id string) error

	// GetServerPlugin returns the plugin's state on a server; a plugin never
	// configured there comes back disabled with no options (not ErrNotFound).
	GetServerPlugin(ctx context.Context, serverID, pluginID string) (ServerPlugin, error)
	// ListServerPlugins returns the states saved for one server.
	ListServerPlugins(ctx context.Context, serverID string) ([]ServerPlugin, error)
	// SetEnabled enables or disables a plugin on a server.
	SetEnabled(ctx context.Context, serverID, pluginID string, enabled bool) error
	// SetOptions replaces the saved option values of a plugin on a server.
	SetOptions(ctx context.Context, serverID, pluginID string, options map[string]json.RawMessage) error
	// EnabledPlugins returns the ids of plugins enabled on a server, sorted.
	EnabledPlugins(ctx context.Context, serverID string) ([]string, error)
}

// Scope names whose data a call touches: one plugin on one server.
type Scope struct {
	PluginID string
	ServerID string
}

// Quota bounds one Scope's KV data.
type Quota struct {
	MaxKeys  int   // keys per scope
	MaxBytes int64 // sum of len(key)+len(value) per scope
}

// KVStore is plugin key-value data, partitioned by Scope. No method can
// reach outside its Scope. Values are JSON documents.
type KVStore interface {
	KVGet(ctx context.Context, s Scope, key string) (value json.RawMessage, found bool, err error)
	// KVSet fails with ErrQuota, writing nothing, if the result would pass q.
	KVSet(ctx context.Context, s Scope, key string, value json.RawMessage, q Quota) error
	KVDelete(ctx context.Context, s Scope, key string) (deleted bool, err error)
	// KVListMax returns keys with the prefix, sorted; limit <= 0 means
	// all. Keys passing maxBytes in total (<= 0: no bound) fail with
	// ErrLimit, read no further: a result is bounded where it is built.
	KVListMax(ctx context.Context, s Scope, prefix string, limit int, maxBytes int64) ([]string, error)
	KVCount(ctx context.Context, s Scope, prefix string) (int, error)
	// KVGetManyMax returns the found keys only. Found keys and values
	// passing maxBytes in total (len(key)+len(value); <= 0: no bound) fail
	// with ErrLimit, read no further.
	KVGetManyMax(ctx context.Context, s Scope, keys []string, maxBytes int64) (map[string]json.RawMessage, error)
	// KVSetMany writes all values or none (ErrQuota).
	KVSetMany(ctx context.Context, s Scope, values map[string]json.RawMessage, q Quota) error
}

// MetricsStore keeps daily counters per (server, namespace, name, day).
// Namespace "" holds the host's built-in metrics; a plugin's own metrics
// live under its plugin id.
type MetricsStore interface {
	// MetricAdd adds delta to the counter of day (UTC date "2006-01-02").
	// A name new to (serverID, namespace) fails with ErrQuota, writing
	// nothing, once that scope has maxNames distinct names (<= 0: no bound).
	MetricAdd(ctx context.Context, serverID, namespace, name, day string, delta float64, maxNames int) error
	// MetricRange returns counters for days in [fromDay, toDay], by day;
	// days without data are absent.
	MetricRange(ctx context.Context, serverID, namespace, name, fromDay, toDay string) (map[string]float64, error)
}

// SQLLimits bound one plugin SQL statement.
type SQLLimits struct {
	Timeout    time.Duration
	MaxRows    int
	MaxBytes   int64 // approximate size of all returned values
	MaxDBBytes int64 // size of the scope's database (SQLite file / schema)
	// ReadOnly: the statement may not change the database (the dashboard
	// bridge of a plugin that declared it read-only); enforced by the
	// database (SQLite query_only, a PostgreSQL READ ONLY transaction).
	ReadOnly bool
}

// SQLResult is the result of a query.
type SQLResult struct {
	Columns []string `json:"columns"`
	Rows    [][]any  `json:"rows"`
}

// ExecResult is the result of a statement without rows.
type ExecResult struct {
	RowsAffected int64 `json:"rows_affected"`
	LastInsertID int64 `json:"last_insert_id"`
}

// PluginSQL runs a plugin's own SQL in the isolated database of one Scope
// (capability storage:sql): each (plugin, server) has its own database, so
// no statement reaches another plugin's or another server's data. One
// statement per call; args bind positional parameters: JSON scalars as
// decoded (nil, bool, string, json.Number, float64), which the
// implementation converts to driver values, refusing anything else with
// ErrInvalid.
// Deleting the plugin deletes the databases of all its servers.
type PluginSQL interface {
	SQLQuery(ctx context.Context, s Scope, query string, args []any, lim SQLLimits) (SQLResult, error)
	SQLExec(ctx context.Context, s Scope, query string, args []any, lim SQLLimits) (ExecResult, error)
}

// MessageStore remembers which plugin sent which message on a server. To
// Discord every plugin's message is the bot's, so this record is what
// keeps a plugin from editing or deleting another plugin's messages. It
// lives in the store so that it survives restarts (plugins keep a message
// id in KV and edit it days later) and every cluster node sees it.
type MessageStore interface {
	// RecordMessage remembers that s.PluginID sent messageID on s.ServerID,
	// keeping the newest keep ids of the scope: older ones are forgotten.
	RecordMessage(ctx context.Context, s Scope, messageID string, keep int) error
	// SentMessage reports whether s.PluginID sent messageID on s.ServerID
	// (among the ids kept).
	SentMessage(ctx context.Context, s Scope, messageID string) (bool, error)
	// RecordedByOther reports whether a plugin other than s.PluginID has
	// messageID among its ids kept on s.ServerID.
	RecordedByOther(ctx context.Context, s Scope, messageID string) (bool, error)
	// ForgetMessage drops messageID from s's record (a reaction the plugin
	// removed is no longer its).
	ForgetMessage(ctx context.Context, s Scope, messageID string) error
}

// OutMessage is a message a plugin sends.
type OutMessage struct {
	ChannelID string            `json:"channel_id"`
	Content   string            `json:"content,omitempty"`
	Embeds    []json.RawMessage `json:"embeds,omitempty"`
	ReplyTo   string            `json:"reply_to,omitempty"`
}

// Discord performs plugin actions. Every method is scoped to serverID: an
// implementation must refuse channels, messages, users or roles that do not
// belong to that server.
type Discord interface {
	SendMessage(ctx context.Context, serverID string, m OutMessage) (messageID string, err error)
	EditMessage(ctx context.Context, serverID, channelID, messageID, content string) error
	DeleteMessage(ctx context.Context, serverID, channelID, messageID string) error
	AddReaction(ctx context.Context, serverID, channelID, messageID, emoji string) error
	RemoveReaction(ctx context.Context, serverID, channelID, messageID, emoji string) error
	AddRole(ctx context.Context, serverID, userID, roleID string) error
	RemoveRole(ctx context.Context, serverID, userID, roleID string) error
	GetMember(ctx context.Context, serverID, userID string) (json.RawMessage, error)
}

// Event is one Discord event for one server, as the gateway or the
// simulator delivers it.
type Event struct {
	Type     string          `json:"type"`           // lower snake case: message_create
	ServerID string          `json:"discord_srv_id"` // guild id
	Data     json.RawMessage `json:"data"`           // Discord's payload
	// Fence: the shard lease the event came under (cluster mode only);
	// the plugins' KV writes for it are fenced by it (fence.go).
	Fence *Fence `json:"-"`
}
